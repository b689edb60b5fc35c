"""Editor accounts and API tokens: argon2id password hashes, tokens kept only as SHA-256."""

import contextlib
import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import current_user
from sqlalchemy import select, update

from .. import tokens
from ..extensions import db
from ..timeutil import utcnow
from ..tokens import Purpose, TokenError
from ..transactions import writing
from . import sessions
from .models import ApiToken, Editor, Role

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


LAST_USE_PRECISION = timedelta(minutes=1)


class AccountError(Exception):
    """A request about editor accounts that cannot be fulfilled; the message is German."""


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(editor: Editor, password: str) -> bool:
    """True when the password matches; rehashes when the parameters changed."""
    try:
        _hasher.verify(editor.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = hash_password(password)
    return True


def create_editor(email: str, password: str, role: Role = Role.EDITOR, name: str = "") -> Editor:
    """Add an editor account (not committed)."""
    email = email.strip().lower()
    if db.session.scalar(select(Editor.id).where(Editor.email == email)):
        raise AccountError(f"Es gibt bereits ein Konto für {email}.")
    if len(password) < 10:
        raise AccountError("Das Passwort muss mindestens 10 Zeichen lang sein.")
    editor = Editor(email=email, name=name, password_hash=hash_password(password), role=role)
    db.session.add(editor)
    return editor


def editor_by_email(email: str) -> Editor | None:
    return db.session.scalar(select(Editor).where(Editor.email == email.strip().lower()))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(editor: Editor, name: str = "") -> str:
    """A new bearer token for the editor; only its hash is stored (not committed)."""
    return new_api_token(editor, name)[0]


def new_api_token(editor: Editor, name: str = "", expires_at: datetime | None = None
                  ) -> tuple[str, ApiToken]:
    """A new bearer token for the editor and its row; only its hash is stored (not committed)."""
    token = "owl_" + secrets.token_urlsafe(32)
    row = ApiToken(editor=editor, token_hash=_token_hash(token), name=name[:100],
                   expires_at=expires_at)
    db.session.add(row)
    db.session.flush()  # the id names the token in the audit log
    return token, row


def token_for_bearer(token: str) -> ApiToken | None:
    """The usable token row (not revoked, not expired, of an active editor), or None."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    now = utcnow()
    if row is None or not row.usable(now) or not row.editor.active:
        return None
    # Written at most once a minute per token: "last use" needs no more, and a write per
    # API request would cost every request a commit.
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_PRECISION:
        row.last_used_at = now
    return row


def editor_for_token(token: str) -> Editor | None:
    """The active editor a usable bearer token belongs to, or None."""
    row = token_for_bearer(token)
    return row.editor if row else None


def tokens_of(editor: Editor) -> list[ApiToken]:
    """The editor's tokens, newest first."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.editor_id == editor.id)
                                   .order_by(ApiToken.id.desc())))


def revoke_token(token: ApiToken) -> None:
    """The token stops working at once (not committed)."""
    token.revoked_at = token.revoked_at or utcnow()


def revoke_all_tokens(editor: Editor) -> int:
    """Every token of the editor stops working; how many were still usable (not committed)."""
    now = utcnow()
    usable = [token for token in editor.tokens if token.usable(now)]
    for token in usable:
        revoke_token(token)
    return len(usable)


# --- logging in ------------------------------------------------------------

@functools.cache
def _dummy_hash() -> str:
    """Verified for unknown addresses too, so both answers take about the same time.

    Made on first use, not at import: argon2 needs 64 MiB for it, and the worker
    process, which never logs anyone in, should not carry that peak."""
    return _hasher.hash("no-such-editor-password")


def authenticate(email: str, password: str) -> Editor | None:
    """The active editor with this address and password, or None (no hint which was wrong)."""
    editor = editor_by_email(email or "")
    if editor is None or not editor.active:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password or "-")
        return None
    if not verify_password(editor, password or ""):
        return None
    return editor


def change_password(editor: Editor, old: str, new: str) -> None:
    """Set a new password after checking the old one (not committed)."""
    if not verify_password(editor, old):
        raise AccountError("Das bisherige Passwort stimmt nicht.")
    if len(new) < 10:
        raise AccountError("Das Passwort muss mindestens 10 Zeichen lang sein.")
    if new == old:
        raise AccountError("Das neue Passwort muss sich vom bisherigen unterscheiden.")
    editor.password_hash = hash_password(new)


def set_password(editor: Editor, password: str) -> None:
    """Set a password without the old one (admin CLI, dev login, reset; not committed)."""
    if len(password) < 10:
        raise AccountError("Das Passwort muss mindestens 10 Zeichen lang sein.")
    editor.password_hash = hash_password(password)


# --- password reset by mail --------------------------------------------------

def _password_fingerprint(editor: Editor) -> str:
    """Changes with every new password: a reset link works only until the password changed."""
    return hashlib.sha256(editor.password_hash.encode()).hexdigest()[:32]


def reset_token(editor: Editor) -> str:
    """A signed link token for a password reset, bound to the current password hash."""
    return tokens.sign(Purpose.PASSWORD_RESET, [editor.id, _password_fingerprint(editor)])


def editor_for_reset(token: str) -> Editor:
    """The editor a reset token is for, or TokenError (invalid, expired, used)."""
    payload = tokens.load(Purpose.PASSWORD_RESET, token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise TokenError.invalid()
    editor = db.session.get(Editor, payload[0]) if 0 < payload[0] < 2**31 else None
    if editor is None or not editor.active:
        raise TokenError.invalid()
    if not tokens.same_secret(payload[1], _password_fingerprint(editor)):
        raise TokenError.used()
    return editor


# --- managing editors (admins) ---------------------------------------------

def remember_editor_language(language: str) -> None:
    """Keep a logged-in editor's choice of language in the account, so it follows them to
    another browser. Its own short transaction: the request's work is done by now."""
    if not current_user.is_authenticated or current_user.language == language:
        return
    editor_id = current_user.id  # read before the rollback expires the row
    db.session.rollback()  # nothing of a failed request may ride along
    with writing():  # a GET reads: this short write takes SQLite's lock of its own
        db.session.execute(update(Editor).where(Editor.id == editor_id)
                           .values(language=language))
        db.session.commit()


def list_editors() -> list[Editor]:
    """Every editor account, active ones first, then by address."""
    return list(db.session.scalars(select(Editor).order_by(Editor.active.desc(), Editor.email)))


def set_active(editor: Editor, active: bool, *, by: Editor) -> None:
    """Deactivate (or reactivate) an account; nobody locks themselves out."""
    if editor.id == by.id and not active:
        raise AccountError("Sie können Ihr eigenes Konto nicht deaktivieren.")
    editor.active = active
    if not active:
        revoke_all_tokens(editor)
        sessions.end_all(editor)
