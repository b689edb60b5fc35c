"""One row per thing an editor (or the system) did that someone may later ask about."""

import enum
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..dbtypes import BigId
from ..extensions import db
from ..timeutil import utcnow


class AuditAction(enum.StrEnum):
    """What was done. Campaign actions are named like the API's routes (campaign.<route>)."""

    LOGIN = "login"
    LOGIN_FAILED = "login.failed"
    SESSION_ENDED = "session.ended"
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_RESET_SENT = "password.reset-sent"
    PASSWORD_RESET = "password.reset"
    TWO_FACTOR_ON = "totp.on"
    TWO_FACTOR_OFF = "totp.reset"
    RECOVERY_CODES = "totp.recovery-codes"
    CAMPAIGN_CREATED = "campaign.create"
    CAMPAIGN_SCHEDULED = "campaign.schedule"
    CAMPAIGN_SENT_NOW = "campaign.send-now"
    CAMPAIGN_PAUSED = "campaign.pause"
    CAMPAIGN_RESUMED = "campaign.resume"
    CAMPAIGN_CANCELLED = "campaign.cancel"
    TEST_SENT = "campaign.test"
    IMPORT = "subscribers.import"
    EXPORT = "subscribers.export"
    ERASED = "subscriber.erased"
    TOPIC_CHANGED = "topic.changed"
    FIELD_CHANGED = "field.changed"
    EDITOR_CREATED = "editor.created"
    EDITOR_DEACTIVATED = "editor.deactivated"
    EDITOR_REACTIVATED = "editor.reactivated"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    AUDIT_EXPORTED = "audit.export"


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(300), default="")
