"""Editor accounts and API tokens: argon2id password hashes, tokens kept only as SHA-256."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

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
