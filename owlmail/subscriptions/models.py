"""Subscribers, topics and the append-only proof of consent."""

import enum
import secrets
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..dbtypes import str_enum
from ..extensions import db
from ..timeutil import utcnow


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


subscriber_topics = Table(
    "subscriber_topics",
    db.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    # Filter by topic, newest subscriber first, with keyset paging (admin list, API).
    Index("ix_subscriber_topics_topic_subscriber", "topic_id", "subscriber_id"),
)


class Topic(db.Model):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Topic {self.slug}>"


def new_token_key() -> str:
    return secrets.token_urlsafe(12)


class Subscriber(db.Model):
    __tablename__ = "subscribers"
    __table_args__ = (
        Index("ix_subscribers_status_id", "status", "id"),
        # Address search is a prefix LIKE on email_key; PostgreSQL needs pattern ops for
        # that unless the database collation is "C" (SQLite does not use it either way).
        Index("ix_subscribers_email_key_pattern", "email_key",
              postgresql_ops={"email_key": "varchar_pattern_ops"}).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The normalised address in lower case: one subscriber per mailbox.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[SubscriberStatus] = mapped_column(
        str_enum(SubscriberStatus), default=SubscriberStatus.PENDING
    )
    source: Mapped[str] = mapped_column(String(32), default="web")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    # Present while a confirmation link may be used; cleared when it is (single use).
    confirm_nonce: Mapped[str | None] = mapped_column(String(32))
    # Part of every unsubscribe/preferences token; replaced on erasure, so old links die.
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key)
    language: Mapped[str] = mapped_column(String(8), default="de")  # signed up in; mails in it
    # The separate, optional consent that this reader's own opens and clicks are counted
    # (its steps are in the consent log: tracking_given, tracking_withdrawn). Without it
    # the reader's mails carry the campaign's anonymous links and no image from this site.
    tracking: Mapped[bool] = mapped_column(default=False, server_default=false())

    topics: Mapped[list[Topic]] = relationship(secondary=subscriber_topics, lazy="selectin")
    consent_events: Mapped[list["ConsentEvent"]] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ConsentEvent.id",
    )

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


class ConsentEvent(db.Model):
    """One step in a subscriber's consent history. Rows are only ever added."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # requested | confirmed | unsubscribed | preferences | imported | bounced | purged ...
    action: Mapped[str] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    source_url: Mapped[str | None] = mapped_column(String(512))
    consent_text_version: Mapped[str | None] = mapped_column(String(32))
    mail_template_version: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")

    subscriber: Mapped[Subscriber] = relationship(back_populates="consent_events")


class ConsentText(db.Model):
    """Every wording of the consent text ever shown, by the hash that names its version."""

    __tablename__ = "consent_texts"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    first_shown_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(db.Model):
    """Addresses never to be mailed or re-imported, kept only as a hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # address_hash (keyed); rows from before the key hold the plain SHA-256, keyed false,
    # until the address shows up again (migration 0004).
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    keyed: Mapped[bool] = mapped_column(default=True, server_default=true())
    reason: Mapped[str] = mapped_column(String(32))  # erased | hard_bounce | complaint
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
