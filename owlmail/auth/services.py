"""Editor accounts and API tokens: argon2id password hashes, tokens kept only as SHA-256."""

import contextlib
import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import current_user
from sqlalchemy import select, update

from ..extensions import db
from ..timeutil import utcnow
from .models import ApiToken, Editor, Role

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


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
    token = "owl_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(editor=editor, token_hash=_token_hash(token), name=name))
    return token


def editor_for_token(token: str) -> Editor | None:
    """The active editor a bearer token belongs to, or None."""
    row = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token),
                               ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.editor.active:
        return None
    row.last_used_at = utcnow()
    return row.editor


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
    editor.last_login_at = utcnow()
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
    """Set a password without the old one (admin CLI, dev login; not committed)."""
    if len(password) < 10:
        raise AccountError("Das Passwort muss mindestens 10 Zeichen lang sein.")
    editor.password_hash = hash_password(password)


# --- managing editors (admins) ---------------------------------------------

def remember_editor_language(language: str) -> None:
    """Keep a logged-in editor's choice of language in the account, so it follows them to
    another browser. Its own short transaction: the request's work is done by now."""
    if not current_user.is_authenticated or current_user.language == language:
        return
    db.session.rollback()  # nothing of a failed request may ride along
    db.session.execute(update(Editor).where(Editor.id == current_user.id)
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
        for token in editor.tokens:
            token.revoked_at = token.revoked_at or utcnow()
