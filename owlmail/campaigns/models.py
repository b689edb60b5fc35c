"""Campaigns: what editors write and schedule."""

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..dbtypes import str_enum
from ..extensions import db
from ..subscriptions.models import Topic
from ..timeutil import utcnow


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


campaign_topics = Table(
    "campaign_topics",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


class Campaign(db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status_send_at", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    preheader: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown with personal fields
    template: Mapped[str] = mapped_column(String(64), default="standard")
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    send_at: Mapped[datetime | None]  # UTC
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    status_note: Mapped[str] = mapped_column(Text, default="")  # e.g. why it was paused
    public: Mapped[bool] = mapped_column(default=False)  # shown in the archive once sent
    slug: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("editors.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Counters the delivery engine keeps, so progress needs no count over deliveries.
    recipients_count: Mapped[int] = mapped_column(default=0)
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)

    topics: Mapped[list[Topic]] = relationship(secondary=campaign_topics, lazy="selectin")

    @property
    def pending_count(self) -> int:
        done = self.sent_count + self.failed_count + self.skipped_count
        return max(self.recipients_count - done, 0)


class ArchiveCopy(db.Model):
    """A campaign as the public archive shows it, rendered once when sending starts.

    Visitors read this row; only publishing or a deliberate re-render writes it.
    """

    __tablename__ = "campaign_archives"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    html: Mapped[str] = mapped_column(Text)  # the whole mail document, no personal fields
    text: Mapped[str] = mapped_column(Text)
    feed_html: Mapped[str] = mapped_column(Text)  # the body alone, for the Atom feed
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the three, for ETags
    rendered_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignLink(db.Model):
    """A link in a campaign's body, by its number: what `/r/<token>` leads to. Written once
    when sending starts; a token only carries the number, the address comes from here."""

    __tablename__ = "campaign_links"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)
