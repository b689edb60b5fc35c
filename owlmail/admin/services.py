"""Dashboard counts and topics for the admin pages; subscriber queries live in
subscriptions.queries, erasure in owlmail.erasure."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, func, select

from ..extensions import db
from ..subscriptions.models import Subscriber, SubscriberStatus, Topic, subscriber_topics
from ..subscriptions.queries import QueryError
from ..timeutil import utcnow

log = logging.getLogger(__name__)


class AdminError(QueryError):
    """A request the admin pages or the API cannot fulfil; German message and HTTP status."""


# --- counting (dashboard) --------------------------------------------------

def count_by_status() -> dict[SubscriberStatus, int]:
    """How many subscribers are in each status (every status present, zero included)."""
    rows = db.session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status))
    counts = dict.fromkeys(SubscriberStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts


def count_by_topic() -> list[tuple[Topic, int]]:
    """Confirmed subscribers per topic, in the topics' display order."""
    counts = dict(db.session.execute(
        select(subscriber_topics.c.topic_id, func.count())
        .join(Subscriber, Subscriber.id == subscriber_topics.c.subscriber_id)
        .where(Subscriber.status == SubscriberStatus.CONFIRMED)
        .group_by(subscriber_topics.c.topic_id)).all())
    topics = db.session.scalars(select(Topic).order_by(Topic.position, Topic.name))
    return [(topic, counts.get(topic.id, 0)) for topic in topics]


@dataclass
class GrowthPoint:
    start: datetime  # beginning of the week (naive UTC)
    new: int  # subscribers created that week who are still on file
    total: int  # subscribers on file created before the end of that week


def growth(weeks: int = 12, now: datetime | None = None,
           total: int | None = None) -> list[GrowthPoint]:
    """Weekly growth of the subscriber file; reads only the weeks shown (created_at index)."""
    now = now or utcnow()
    this_monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0)
    starts = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    bounds = [*starts[1:], now + timedelta(days=1)]
    columns = [func.count(case(((Subscriber.created_at >= lo) & (Subscriber.created_at < hi), 1)))
               for lo, hi in zip(starts, bounds, strict=True)]
    per_week = db.session.execute(
        select(*columns).where(Subscriber.created_at >= starts[0])).one()
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(Subscriber))
    running = total - sum(per_week)  # on file from before the first week shown
    points = []
    for start, new in zip(starts, per_week, strict=True):
        running += new
        points.append(GrowthPoint(start, new, running))
    return points


@dataclass
class DashboardStats:
    by_status: dict[SubscriberStatus, int]
    by_topic: list[tuple[Topic, int]]
    growth: list[GrowthPoint]
    computed_at: datetime


STATS_KEY = "owlmail_admin_stats"


def dashboard_stats(max_age: float = 60.0) -> DashboardStats:
    """The dashboard's counts, computed at most once per max_age seconds per process.

    At a million subscribers the counts take about a second; people looking at the
    dashboard do not need them fresher than a minute.
    """
    cached = current_app.extensions.get(STATS_KEY)
    if cached and (utcnow() - cached.computed_at).total_seconds() < max_age:
        return cached
    by_status = count_by_status()
    stats = DashboardStats(by_status, count_by_topic(),
                           growth(total=sum(by_status.values())), utcnow())
    current_app.extensions[STATS_KEY] = stats
    return stats


def forget_dashboard_stats() -> None:
    """Drop the cached counts (after imports and erasures, and in benchmarks)."""
    current_app.extensions.pop(STATS_KEY, None)


# --- topics ----------------------------------------------------------------

SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def all_topics() -> list[Topic]:
    """Every topic, hidden ones included, in display order."""
    return list(db.session.scalars(select(Topic).order_by(Topic.position, Topic.name)))


def create_topic(slug: str, name: str) -> Topic:
    """A new visible topic at the end of the list (not committed)."""
    slug = slug.strip().lower()
    if not slug or len(slug) > 64 or not set(slug) <= SLUG_CHARS:
        raise AdminError(_("Das Kürzel darf nur a–z, 0–9 und Bindestriche enthalten."))
    if db.session.scalar(select(Topic.id).where(Topic.slug == slug)):
        raise AdminError(_("Das Kürzel „%(slug)s“ ist schon vergeben.", slug=slug), 409,
                         "conflict")
    position = (db.session.scalar(select(func.max(Topic.position))) or 0) + 1
    topic = Topic(slug=slug, name=_topic_name(name), position=position)
    db.session.add(topic)
    return topic


def _topic_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise AdminError(_("Bitte geben Sie einen Namen mit höchstens 120 Zeichen an."))
    return name


def rename_topic(topic: Topic, name: str) -> None:
    """A new display name; the slug (used in links and the API) stays."""
    topic.name = _topic_name(name)


def set_topic_hidden(topic: Topic, hidden: bool) -> None:
    """Hide a topic from the sign-up form (subscribers keep it), or show it again."""
    topic.hidden = hidden
