"""Per-recipient delivery state of a campaign."""

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..dbtypes import BigId, str_enum
from ..extensions import db


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_deliveries_campaign_status_id", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # NULL once the subscriber was erased: the row then only counts.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    smtp_code: Mapped[int | None]
    smtp_message: Mapped[str] = mapped_column(String(500), default="")
    # A claim is a lease: a worker owns the row until claimed_until; a killed worker's
    # rows come back when it expires (or at once when the same host sees the pid gone).
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))


class SendPace(db.Model):
    """SEND_RATE_PER_SECOND for every worker together: the earliest moment (seconds since
    the epoch) the next mail may go. One row, taken by a conditional UPDATE."""

    __tablename__ = "send_pace"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)


class SendStamp(db.Model):
    """SEND_RATE_PER_HOUR for every worker together: when each mail of the last hour went."""

    __tablename__ = "send_stamps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[float] = mapped_column(Float, index=True)
