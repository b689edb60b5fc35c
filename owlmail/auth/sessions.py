"""Login sessions that can end: a random key in the signed cookie, its hash in the database.

Checked on every request by the user loader, so logging out, a password change or
reset and deactivation end a session for good, even for a cookie copied before."""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from sqlalchemy import delete, select, update

from ..extensions import db
from ..subscriptions.consent import Evidence
from ..timeutil import utcnow
from ..transactions import writing
from .models import Editor, EditorSession

SESSION_KEY = "sid"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


SEEN_PRECISION = timedelta(minutes=1)  # "last seen" needs no more; a write costs a lock


def start(editor: Editor) -> None:
    """Record a new session for the editor and put its key in the cookie (not committed)."""
    session[SESSION_KEY] = new_key(editor.id, request.user_agent.string or "",
                                   Evidence.from_request().ip)


def new_key(editor_id: int, user_agent: str = "", ip: str | None = None) -> str:
    """Record a new session and return the key its cookie carries (not committed)."""
    key = secrets.token_urlsafe(32)
    db.session.add(EditorSession(editor_id=editor_id, key_hash=_hash(key),
                                 user_agent=user_agent[:300], ip=ip))
    return key


def open_editor(editor_id: int) -> Editor | None:
    """The active editor whose open session this request's cookie names, or None.

    One query: the session row and its editor together. A session past its lifetime or
    idle longer than SESSION_IDLE_HOURS has ended."""
    key = session.get(SESSION_KEY)
    if not isinstance(key, str) or not key:
        return None
    row = db.session.execute(
        select(Editor, EditorSession.id, EditorSession.last_seen_at)
        .join(EditorSession, EditorSession.editor_id == Editor.id).where(
            EditorSession.key_hash == _hash(key), EditorSession.created_at > _oldest_open(),
            EditorSession.last_seen_at > utcnow() - _idle(),
            Editor.id == editor_id, Editor.active.is_(True))).first()
    if row is None:
        return None
    g.owlmail_session = (row[1], row[2])  # noted after the request if a minute old
    return row[0]


def note_seen() -> None:
    """after_request: remember that this request's session was used (at most once a
    minute), in a short write of its own, so a reading request stays a reading one."""
    current = g.pop("owlmail_session", None)
    if current is None or utcnow() - current[1] < SEEN_PRECISION:
        return
    db.session.rollback()  # the request's own work is committed by now, or was refused
    with writing():
        db.session.execute(update(EditorSession).where(EditorSession.id == current[0])
                           .values(last_seen_at=utcnow()))
        db.session.commit()


def current_session_id() -> int | None:
    """The id of this request's session row (for the account page)."""
    current = g.get("owlmail_session")
    return current[0] if current else None


def open_sessions(editor: Editor) -> list[EditorSession]:
    """The editor's sessions that have not ended, the most recently used first."""
    return list(db.session.scalars(select(EditorSession).where(
        EditorSession.editor_id == editor.id, EditorSession.created_at > _oldest_open(),
        EditorSession.last_seen_at > utcnow() - _idle())
        .order_by(EditorSession.last_seen_at.desc())))


def end_one(editor: Editor, session_id: int) -> bool:
    """End one of the editor's own sessions (not committed); False if there is none."""
    return bool(db.session.execute(delete(EditorSession).where(
        EditorSession.id == session_id, EditorSession.editor_id == editor.id)).rowcount)


def _idle() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_IDLE_HOURS"])


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
        (EditorSession.created_at <= _oldest_open())
        | (EditorSession.last_seen_at <= utcnow() - _idle())))
    db.session.commit()  # a scheduler job commits once, at its edge
    return result.rowcount


def end_all(editor: Editor) -> int:
    """End every session of the editor, in every browser (not committed)."""
    result = db.session.execute(delete(EditorSession).where(
        EditorSession.editor_id == editor.id))
    return result.rowcount
