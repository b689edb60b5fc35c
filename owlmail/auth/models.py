"""Editor accounts, their login sessions, two-factor recovery codes and API tokens."""

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..dbtypes import str_enum
from ..extensions import db
from ..timeutil import utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"


class Editor(UserMixin, db.Model):
    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.EDITOR)
    active: Mapped[bool] = mapped_column(default=True)
    # The admin pages' language once the editor chose one (None: the browser's cookie).
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Two-factor login (TOTP): the confirmed secret, one awaiting its first code, and the
    # time step of the last accepted code (a code is taken once, never replayed).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    tokens: Mapped[list["ApiToken"]] = relationship(
        back_populates="editor", cascade="all, delete-orphan"
    )

    sessions: Mapped[list["EditorSession"]] = relationship(
        back_populates="editor", cascade="all, delete-orphan", passive_deletes=True
    )
    recovery_codes: Mapped[list["RecoveryCode"]] = relationship(
        back_populates="editor", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class ApiToken(db.Model):
    """A bearer token, kept only as its SHA-256."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editors.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    editor: Mapped[Editor] = relationship(back_populates="tokens")

    def usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class EditorSession(db.Model):
    """One login of one browser; the cookie carries a random key whose SHA-256 is kept here.

    A session ends for good when its row is gone (logout, password change or reset,
    deactivation): a copied cookie then names no row and opens nothing. A row per login
    rather than a counter on the editor, so logging out ends only that browser's session."""

    __tablename__ = "editor_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editors.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str | None] = mapped_column(String(64))  # as CONSENT_IP_MODE keeps IPs
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Noted at most once a minute; a session idle for SESSION_IDLE_HOURS has ended.
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    editor: Mapped[Editor] = relationship(back_populates="sessions")


class RecoveryCode(db.Model):
    """A single-use two-factor recovery code, kept only as its SHA-256."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editors.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]

    editor: Mapped[Editor] = relationship(back_populates="recovery_codes")
