"""What became of a campaign's mails after they left: bounces, complaints, unsubscribes.

One row per person, campaign and kind, written by whoever learns of it (the engine, the
bounce command, the unsubscribe page). The row names no address: after an erasure it
keeps counting for the campaign's report with the subscriber's id emptied.
"""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, exists, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .dbtypes import BigId, str_enum
from .extensions import db
from .timeutil import utcnow


class EventKind(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


class CampaignEvent(db.Model):
    __tablename__ = "campaign_events"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", "kind"),
        Index("ix_campaign_events_subscriber_kind", "subscriber_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    status: Mapped[str] = mapped_column(String(16), default="")  # e.g. 4.2.2 or 550
    at: Mapped[datetime] = mapped_column(default=utcnow)


def record_event(campaign_id: int | None, subscriber_id: int, kind: EventKind,
                 status: str = "") -> bool:
    """Note what happened, once per person, campaign and kind; True when it is new."""
    if campaign_id is None or not _campaign_exists(campaign_id):
        return False
    table = CampaignEvent.__table__.c
    known = db.session.scalar(select(exists().where(
        table.campaign_id == campaign_id, table.subscriber_id == subscriber_id,
        table.kind == kind.value)))
    if known:
        return False
    db.session.add(CampaignEvent(campaign_id=campaign_id, subscriber_id=subscriber_id,
                                 kind=kind, status=status[:16]))
    db.session.flush()
    return True


def _campaign_exists(campaign_id: int) -> bool:
    """A link in an old mail may name a campaign deleted since."""
    campaigns = db.metadata.tables["campaigns"]
    return bool(db.session.scalar(select(exists().where(campaigns.c.id == campaign_id))))


def soft_bounced_campaigns(subscriber_id: int) -> int:
    """From how many different campaigns this person's mail bounced softly."""
    return db.session.scalar(select(func.count()).where(
        CampaignEvent.subscriber_id == subscriber_id,
        CampaignEvent.kind == EventKind.SOFT_BOUNCE)) or 0
