"""Bearer tokens: every API request names its editor by `Authorization: Bearer <token>`.

Session cookies are never looked at here, so a logged-in browser cannot be made to
call the API (no CSRF on the API because no cookie authenticates it).
"""

from flask import g, request
from flask_babel import gettext as _

from ..auth.models import ApiToken, Editor
from ..auth.services import token_for_bearer
from ..extensions import db
from ..transactions import writing
from .errors import ApiError


def bearer_token() -> str | None:
    """The token of the Authorization header, or None."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def require_token() -> None:
    """before_request of every API blueprint: the token's editor, or 401 JSON."""
    token = bearer_token()
    if token is None:
        raise ApiError(401, "missing_token", _(
            "Bitte senden Sie ein API-Token im Kopf „Authorization: Bearer …“."))
    row = _token_noting_use(token)
    if row is None:
        raise ApiError(401, "invalid_token",
                       _("Das API-Token ist ungültig, abgelaufen, widerrufen oder gehört zu "
                         "einem deaktivierten Konto."))
    g.api_editor = row.editor


def _token_noting_use(token: str) -> ApiToken | None:
    """The usable token; noting its use (once a minute) is a write of its own, so a
    reading request takes SQLite's write lock only then."""
    row = token_for_bearer(token)
    if not db.session.dirty:
        return row
    db.session.rollback()  # the read ends here; the write below takes the lock up front
    with writing():
        row = token_for_bearer(token)
        db.session.commit()
    return row


def current_editor() -> Editor:
    """The editor of this API request."""
    return g.api_editor


def require_admin() -> Editor:
    """The editor of this request if an admin, else 403 JSON."""
    editor = current_editor()
    if not editor.is_admin:
        raise ApiError(403, "forbidden", _("Das dürfen nur Administratorinnen und "
                                           "Administratoren."))
    return editor
