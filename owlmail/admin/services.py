"""Subscriber queries and erasure for the admin pages and the JSON API.

Paging is keyset paging by id, newest first: the cursor `next` is the id of the
last item of a page (as a string), and `after=<cursor>` returns the subscribers
with a smaller id. This stays as fast on page 20,000 as on page 1 (no OFFSET).

`q` is a prefix match on `email_key` (the normalised address in lower case), e.g.
`anna` or `anna.schmidt@`. On PostgreSQL a `varchar_pattern_ops` index on
email_key serves `LIKE 'q%'` whatever the database collation; a substring search
would need pg_trgm, which not every installation has.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, delete, func, select

from ..auth.models import Editor
from ..extensions import db
from ..mailing.models import OutboxMail, OutboxStatus
from ..subscriptions.addresses import ascii_address
from ..subscriptions.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
)
from ..subscriptions.services import suppress_address
from ..timeutil import utcnow

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 200
MAX_ID = 2**31 - 1


class AdminError(Exception):
    """A request the admin pages or the API cannot fulfil; German message and HTTP status."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @classmethod
    def not_found(cls) -> "AdminError":
        return cls(_("Diesen Abonnenten gibt es nicht (mehr)."), 404, "not_found")


@dataclass
class SubscriberPage:
    """One page of subscribers and the cursor of the next page (None on the last)."""

    items: list[Subscriber] = field(default_factory=list)
    next: str | None = None


# --- listing ---------------------------------------------------------------

def parse_cursor(after: str | None) -> int | None:
    """The id a cursor stands for; AdminError (400) when it is not one of ours."""
    if after is None or after == "":
        return None
    if not (after.isascii() and after.isdigit()) or len(after) > 18:
        raise AdminError(_("Der Blätter-Verweis (Cursor) ist ungültig."), 400, "invalid_cursor")
    value = int(after)
    # Ids are 32-bit integers: a cursor above every id means "from the newest" (and
    # must not reach PostgreSQL, which refuses the comparison as out of range).
    return value if value <= MAX_ID else None


def parse_status(value: str | None) -> SubscriberStatus | None:
    """A status filter from a query string; AdminError (400) for unknown values."""
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        raise AdminError(_("Unbekannter Status „%(status)s“.", status=value[:40]), 400,
                         "invalid_status")


def topic_by_slug(slug: str) -> Topic:
    """The topic with this slug (hidden ones included); AdminError (400) if unknown."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise AdminError(_("Unbekanntes Thema „%(slug)s“.", slug=slug[:64]), 400, "invalid_topic")
    return topic


def _like_prefix(q: str) -> str:
    """A LIKE pattern matching addresses that start with q (wildcards escaped)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def list_subscribers(
    *,
    status: SubscriberStatus | None = None,
    topic: str | None = None,
    q: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> SubscriberPage:
    """Subscribers newest first, filtered; keyset paging by id (see module docstring)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(Subscriber).order_by(Subscriber.id.desc()).limit(limit + 1)
    before_id = parse_cursor(after)
    if before_id is not None:
        query = query.where(Subscriber.id < before_id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    if topic:
        topic_id = topic_by_slug(topic).id
        query = query.where(Subscriber.id.in_(
            select(subscriber_topics.c.subscriber_id)
            .where(subscriber_topics.c.topic_id == topic_id)))
    needle = (q or "").strip().lower()
    if needle:
        query = query.where(Subscriber.email_key.like(_like_prefix(needle), escape="\\"))
    rows = list(db.session.scalars(query))
    has_more = len(rows) > limit
    items = rows[:limit]
    return SubscriberPage(items=items, next=str(items[-1].id) if has_more else None)


def get_subscriber(subscriber_id: int) -> Subscriber:
    """One subscriber by id; AdminError (404) when there is none."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise AdminError.not_found()
    return subscriber


# --- as data (API, export) -------------------------------------------------

def iso(moment: datetime | None) -> str | None:
    """A stored naive-UTC timestamp as ISO 8601 with offset."""
    return moment.replace(tzinfo=UTC).isoformat() if moment else None


def subscriber_summary(subscriber: Subscriber) -> dict:
    """The fields of a subscriber in a list: id, email, name, status, topics (slugs)."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status.value,
        "topics": [topic.slug for topic in subscriber.topics],
    }


def consent_event_data(event: ConsentEvent) -> dict:
    """One step of the consent history as plain data."""
    return {
        "at": iso(event.at),
        "action": event.action,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "source_url": event.source_url,
        "consent_text_version": event.consent_text_version,
        "mail_template_version": event.mail_template_version,
        "detail": event.detail or "",
    }


def consent_wordings(subscriber: Subscriber) -> list[ConsentText]:
    """The exact consent texts this person was shown, in the order they first saw them."""
    versions = list(dict.fromkeys(
        e.consent_text_version for e in subscriber.consent_events if e.consent_text_version))
    if not versions:
        return []
    stored = {text.version: text for text in db.session.scalars(
        select(ConsentText).where(ConsentText.version.in_(versions)))}
    return [stored[version] for version in versions if version in stored]


def last_soft_bounce(subscriber: Subscriber) -> tuple[datetime, str] | None:
    """When the newest soft bounce in the person's history came, and what the DSN said."""
    steps = [event for event in subscriber.consent_events if event.action == "soft_bounce"]
    newest = max(steps, key=lambda event: event.id, default=None)
    if newest is None:
        return None
    return newest.at, json.loads(newest.detail or "{}").get("dsn", "")


def subscriber_detail(subscriber: Subscriber) -> dict:
    """A subscriber with dates, the whole consent history (oldest step first) and the
    wording of every consent text that history names."""
    return {
        **subscriber_summary(subscriber),
        "source": subscriber.source,
        "created_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at),
        "unsubscribed_at": iso(subscriber.unsubscribed_at),
        "consent_history": [consent_event_data(e) for e in subscriber.consent_events],
        "consent_texts": [{"version": t.version, "text": t.text,
                           "first_shown_at": iso(t.first_shown_at)}
                          for t in consent_wordings(subscriber)],
    }


# --- erasing ---------------------------------------------------------------

def erase_subscriber(subscriber: Subscriber, *, by: Editor | None = None) -> None:
    """GDPR erasure: row and consent history deleted, only a hashed suppression kept.

    Deliveries keep their counts with subscriber_id set NULL (foreign key ON DELETE
    SET NULL); mails still waiting in the outbox for this address are dropped.
    """
    suppress_address(subscriber.email_key, "erased")
    _drop_queued_mail(subscriber)
    subscriber_id = subscriber.id
    db.session.delete(subscriber)
    db.session.flush()
    log.info("subscriber %s erased by %s", subscriber_id, f"editor {by.id}" if by else "system")


def _drop_queued_mail(subscriber: Subscriber) -> None:
    """Unsent transactional mail (e.g. a confirmation) to the erased address."""
    addresses = {subscriber.email, ascii_address(subscriber.email), subscriber.email_key}
    db.session.execute(delete(OutboxMail).where(
        OutboxMail.status == OutboxStatus.QUEUED, OutboxMail.recipients.in_(addresses)))


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
