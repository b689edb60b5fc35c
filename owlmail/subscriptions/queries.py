"""Subscriber queries for the admin pages, the JSON API and the CSV export.

Paging is keyset paging by id, newest first: the cursor `next` is the id of the
last item of a page (as a string), and `after=<cursor>` returns the subscribers
with a smaller id. This stays as fast on page 20,000 as on page 1 (no OFFSET).

`q` is a prefix match on `email_key` (the normalised address in lower case), e.g.
`anna` or `anna.schmidt@`. On PostgreSQL a `varchar_pattern_ops` index on
email_key serves `LIKE 'q%'` whatever the database collation; a substring search
would need pg_trgm, which not every installation has.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from ..dbtypes import MAX_ID
from ..extensions import db
from .models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
)

MAX_PAGE_SIZE = 200


class QueryError(Exception):
    """A request for subscribers that cannot be answered; German message and HTTP status."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @classmethod
    def not_found(cls) -> "QueryError":
        return cls(_("Diesen Abonnenten gibt es nicht (mehr)."), 404, "not_found")


@dataclass
class SubscriberPage:
    """One page of subscribers and the cursor of the next page (None on the last)."""

    items: list[Subscriber] = field(default_factory=list)
    next: str | None = None


# --- listing ---------------------------------------------------------------

def parse_cursor(after: str | None) -> int | None:
    """The id a cursor stands for; QueryError (400) when it is not one of ours."""
    if after is None or after == "":
        return None
    if not (after.isascii() and after.isdigit()) or len(after) > 18:
        raise QueryError(_("Der Blätter-Verweis (Cursor) ist ungültig."), 400, "invalid_cursor")
    value = int(after)
    # Ids are 32-bit integers: a cursor above every id means "from the newest" (and
    # must not reach PostgreSQL, which refuses the comparison as out of range).
    return value if value <= MAX_ID else None


def parse_status(value: str | None) -> SubscriberStatus | None:
    """A status filter from a query string; QueryError (400) for unknown values."""
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        raise QueryError(_("Unbekannter Status „%(status)s“.", status=value[:40]), 400,
                         "invalid_status")


def topic_by_slug(slug: str) -> Topic:
    """The topic with this slug (hidden ones included); QueryError (400) if unknown."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise QueryError(_("Unbekanntes Thema „%(slug)s“.", slug=slug[:64]), 400, "invalid_topic")
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
    """One subscriber by id; QueryError (404) when there is none."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise QueryError.not_found()
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


def last_soft_bounce(subscriber: Subscriber) -> tuple[datetime, str] | None:
    """When the newest soft bounce in the person's history came, and what the DSN said."""
    steps = [event for event in subscriber.consent_events if event.action == "soft_bounce"]
    newest = max(steps, key=lambda event: event.id, default=None)
    if newest is None:
        return None
    return newest.at, json.loads(newest.detail or "{}").get("dsn", "")


def consent_wordings(subscriber: Subscriber) -> list[ConsentText]:
    """The exact consent texts this person was shown, in the order they first saw them."""
    versions = list(dict.fromkeys(
        e.consent_text_version for e in subscriber.consent_events if e.consent_text_version))
    if not versions:
        return []
    stored = {text.version: text for text in db.session.scalars(
        select(ConsentText).where(ConsentText.version.in_(versions)))}
    return [stored[version] for version in versions if version in stored]


def subscriber_detail(subscriber: Subscriber) -> dict:
    """A subscriber with dates, the whole consent history (oldest step first) and the
    wording of every consent text that history names."""
    return {
        **subscriber_summary(subscriber),
        "source": subscriber.source,
        "created_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at),
        "unsubscribed_at": iso(subscriber.unsubscribed_at),
        "tracking": bool(subscriber.tracking),
        "consent_history": [consent_event_data(e) for e in subscriber.consent_events],
        "consent_texts": [{"version": t.version, "text": t.text,
                           "first_shown_at": iso(t.first_shown_at)}
                          for t in consent_wordings(subscriber)],
    }
