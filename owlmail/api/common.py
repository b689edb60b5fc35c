"""What every API blueprint shares: token check, JSON errors, no CSRF, lookups by id."""

from datetime import UTC, datetime

from flask import request
from flask_babel import gettext as _
from flask_smorest import Blueprint

from ..dbtypes import MAX_ID
from ..extensions import csrf, db
from .auth import require_token
from .errors import ApiError, register_error_handlers


def api_blueprint(name: str, description: str) -> Blueprint:
    """A blueprint under /api/v1 that needs a bearer token and answers errors as JSON."""
    blp = Blueprint(name, __name__, url_prefix="/api/v1", description=description)
    blp.before_request(require_token)
    blp.before_request(require_json_body)
    register_error_handlers(blp)
    csrf.exempt(blp)  # bearer tokens, no cookies: nothing for a forged request to ride on
    return blp


def require_json_body() -> None:
    """A request body must be JSON (415 otherwise, rather than 'fields missing')."""
    if request.content_length and not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       _("Bitte senden Sie JSON (Content-Type: application/json)."))


def get_or_404(model, row_id: int, message: str, *, lock: bool = False):
    """The row with this id (locked for a change), or ApiError 404 with the German message."""
    in_range = 0 < row_id <= MAX_ID
    row = db.session.get(model, row_id, with_for_update=lock) if in_range else None
    if row is None:
        raise ApiError(404, "not_found", message)
    return row


def aware(moment: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp as an aware datetime (ISO 8601 with offset in JSON)."""
    return moment.replace(tzinfo=UTC) if moment else None


def not_found_campaign() -> str:
    return _("Diese Kampagne gibt es nicht.")
