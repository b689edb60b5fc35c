"""Login sessions that can end: a random key in the signed cookie, its hash in the database.

Checked on every request by the user loader, so logging out, a password change or
reset and deactivation end a session for good, even for a cookie copied before."""

import hashlib
import secrets
from datetime import datetime

from flask import current_app, request, session
from sqlalchemy import delete, select

from ..extensions import db
from ..timeutil import utcnow
from .models import Editor, EditorSession

SESSION_KEY = "sid"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(editor: Editor) -> None:
    """Record a new session for the editor and put its key in the cookie (not committed)."""
    session[SESSION_KEY] = new_key(editor.id, request.user_agent.string or "")


def new_key(editor_id: int, user_agent: str = "") -> str:
    """Record a new session and return the key its cookie carries (not committed)."""
    key = secrets.token_urlsafe(32)
    db.session.add(EditorSession(editor_id=editor_id, key_hash=_hash(key),
                                 user_agent=user_agent[:300]))
    return key


def open_editor(editor_id: int) -> Editor | None:
    """The active editor whose open session this request's cookie names, or None.

    One query: the session row and its editor together."""
    key = session.get(SESSION_KEY)
    if not isinstance(key, str) or not key:
        return None
    return db.session.scalar(
        select(Editor).join(EditorSession, EditorSession.editor_id == Editor.id).where(
            EditorSession.key_hash == _hash(key), EditorSession.created_at > _oldest_open(),
            Editor.id == editor_id, Editor.active.is_(True)))


def end_current() -> None:
    """End the session of this request's cookie (not committed)."""
    key = session.get(SESSION_KEY)
    if isinstance(key, str) and key:
        db.session.execute(delete(EditorSession).where(EditorSession.key_hash == _hash(key)))


def _oldest_open() -> datetime:
    """Sessions started before this have ended (Flask's PERMANENT_SESSION_LIFETIME, 31 days)."""
    return utcnow() - current_app.permanent_session_lifetime


def purge_ended() -> int:
    """Scheduler job: forget sessions past their lifetime (browsers closed without logout)."""
    result = db.session.execute(delete(EditorSession).where(
        EditorSession.created_at <= _oldest_open()))
    db.session.commit()  # a scheduler job commits once, at its edge
    return result.rowcount


def end_all(editor: Editor) -> int:
    """End every session of the editor, in every browser (not committed)."""
    result = db.session.execute(delete(EditorSession).where(
        EditorSession.editor_id == editor.id))
    return result.rowcount
