"""What the links and the open pixel of campaign mails counted.

`LinkCount` names nobody: per campaign, link and hour, the clicks of people and the
fetches that were filtered out (HEAD requests, link scanners). Link number 0 is the open
pixel, which only mails of readers with tracking consent carry. `ReaderActivity` exists
only for readers with tracking consent: per campaign, reader and link (0: opened) when
they first came and how often; it goes when the person is erased.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

OPEN_PIXEL = 0  # the link number of the open pixel


class LinkCount(db.Model):
    __tablename__ = "link_counts"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    link: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hour: Mapped[datetime] = mapped_column(primary_key=True)  # UTC, the start of the hour
    clicks: Mapped[int] = mapped_column(default=0)
    filtered: Mapped[int] = mapped_column(default=0)  # HEAD requests and link scanners


class ReaderActivity(db.Model):
    __tablename__ = "reader_activity"
    __table_args__ = (Index("ix_reader_activity_subscriber", "subscriber_id"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    link: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=1)
