"""The delivery engine's database side: audience, claims, outcomes. Never commits.

Claims are leases: a worker marks a batch claimed_by itself until claimed_until, in a
short transaction (on PostgreSQL with FOR UPDATE SKIP LOCKED, so workers share a
campaign without overlap). A delivery is marked sent only after the server took it,
and before the connection that sent it sends another one: a killed worker can repeat
at most the one message each of its connections had in flight.
"""

import json
import logging
import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, literal, or_, select, text, update

from ..addresses import address_hash_sql
from ..campaigns import services as transitions
from ..campaigns.models import Campaign, CampaignStatus, campaign_topics
from ..campaigns.segments import segment_conditions
from ..events import EventKind, record_event
from ..extensions import db
from ..mail.retry import Backoff
from ..subscriptions.models import Subscriber, SubscriberStatus, Suppression, subscriber_topics
from ..subscriptions.services import mark_bounced, soft_bounce, suppressed_among
from ..timeutil import utcnow
from .models import Delivery, DeliveryStatus
from .outcomes import Outcome, Result

log = logging.getLogger(__name__)

deliveries = Delivery.__table__
campaigns = Campaign.__table__
subscribers = Subscriber.__table__
PENDING, SENT, FAILED, SKIPPED = (DeliveryStatus.PENDING, DeliveryStatus.SENT,
                                  DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)
_PROCESS_TOKEN = os.urandom(3).hex()


def worker_id() -> str:
    """Who holds a claim: host, process id and a random tag of this process."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_PROCESS_TOKEN}"


def _is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


# --- starting ----------------------------------------------------------------

def fix_audience(campaign: Campaign) -> int:
    """Insert one pending delivery per recipient in one INSERT … SELECT; returns the count."""
    s = subscribers.c
    audience = select(literal(campaign.id), s.id, literal(PENDING.value), literal(0),
                      literal("")).where(s.status == SubscriberStatus.CONFIRMED.value)
    topic_ids = select(campaign_topics.c.topic_id).where(
        campaign_topics.c.campaign_id == campaign.id)
    if campaign.topics:  # no topics: every confirmed subscriber
        audience = audience.where(exists().where(
            subscriber_topics.c.subscriber_id == s.id, subscriber_topics.c.topic_id.in_(topic_ids)))
    audience = audience.where(*segment_conditions(campaign.id, s.id))
    keyed_hash = address_hash_sql(db.session, s.email_key)
    audience = audience.where(~exists().where(Suppression.email_hash == keyed_hash))
    columns = ["campaign_id", "subscriber_id", "status", "attempts", "smtp_message"]
    db.session.execute(deliveries.insert().from_select(columns, audience))
    # Counted afterwards: rowcount of INSERT … SELECT is not reported by every driver.
    return db.session.scalar(select(func.count()).where(
        deliveries.c.campaign_id == campaign.id)) or 0


def start_due_campaign() -> Campaign | None:
    """Start one campaign whose time has come: sending, audience fixed. None if none is due."""
    query = (select(Campaign)
             .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= utcnow())
             .order_by(Campaign.send_at, Campaign.id).limit(1)
             .with_for_update(skip_locked=True))
    campaign = db.session.scalars(query).first()
    if campaign is None:
        return None
    transitions.start_sending(campaign, fix_audience)
    log.info("campaign %s started: %s recipients", campaign.id, campaign.recipients_count)
    return campaign


def refresh_statistics() -> None:
    """After a large audience insert: let PostgreSQL's planner know (claims use the index)."""
    if not _is_sqlite():
        db.session.execute(text("ANALYZE deliveries"))
        db.session.commit()


def sending_campaign_ids() -> list[int]:
    """Campaigns with status sending, oldest first."""
    query = (select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
             .order_by(Campaign.send_at, Campaign.id))
    return list(db.session.scalars(query))


def campaign_status(campaign_id: int) -> CampaignStatus | None:
    """The campaign's status as stored now."""
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


# --- claims ------------------------------------------------------------------

@dataclass
class Recipient:
    delivery_id: int
    subscriber_id: int
    attempts: int
    email: str
    email_key: str
    name: str
    token_key: str
    language: str = "de"  # the mail's frame (reason, links, footer) is in this language
    tracking: bool = False  # consented to their own opens and clicks being counted, now


def _claimable(campaign_id: int, now: datetime):
    d = deliveries.c
    return and_(d.campaign_id == campaign_id, d.status == PENDING.value,
                or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
                or_(d.claimed_until.is_(None), d.claimed_until < now))


def claim_batch(campaign_id: int, size: int, me: str,
                after_id: int = 0) -> tuple[list[Recipient], int]:
    """Lease up to `size` due deliveries (ids above after_id) to this worker; skip those
    no longer wanted. Returns the wanted recipients and the highest id claimed (0: none).

    Starting after the last claimed id matters on PostgreSQL: rows already sent leave
    dead index entries behind until VACUUM, and a scan from the start would walk them all.
    """
    d, now = deliveries.c, utcnow()
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    free = (select(d.id).where(_claimable(campaign_id, now), d.id > after_id).order_by(d.id)
            .limit(size).with_for_update(skip_locked=True))
    claimed = db.session.execute(
        update(deliveries).where(d.id.in_(free)).values(claimed_until=lease, claimed_by=me)
        .returning(d.id)).scalars().all()
    if not claimed:
        return [], 0
    return _wanted_recipients(campaign_id, claimed), max(claimed)


def _wanted_recipients(campaign_id: int, ids: list[int]) -> list[Recipient]:
    """The claimed rows' recipients; the unsubscribed, erased or suppressed are skipped."""
    d, s = deliveries.c, subscribers.c
    rows = db.session.execute(
        select(d.id, d.subscriber_id, d.attempts, s.email, s.email_key, s.name, s.token_key,
               s.status, s.language, s.tracking)
        .select_from(deliveries.outerjoin(subscribers, s.id == d.subscriber_id))
        .where(d.id.in_(ids)).order_by(d.id)).all()
    suppressed = suppressed_among([row.email_key for row in rows if row.email_key])
    wanted, unwanted = [], []
    for row in rows:
        if (row.subscriber_id is None or row.status != SubscriberStatus.CONFIRMED.value
                or row.email_key in suppressed):
            unwanted.append(row.id)
        else:
            wanted.append(Recipient(row.id, row.subscriber_id, row.attempts, row.email,
                                    row.email_key, row.name or "", row.token_key,
                                    row.language or "de", bool(row.tracking)))
    if unwanted:
        skip_deliveries(campaign_id, unwanted)
    return wanted


def skip_deliveries(campaign_id: int, ids: list[int]) -> int:
    """Mark pending deliveries skipped and count them on the campaign."""
    d = deliveries.c
    count = db.session.execute(
        update(deliveries).where(d.id.in_(ids), d.status == PENDING.value)
        .values(status=SKIPPED.value, claimed_until=None, claimed_by=None)).rowcount
    _count(campaign_id, skipped=count)
    return count


def release(ids: list[int], me: str) -> None:
    """Give claimed but unsent deliveries back (stop, pause, server away)."""
    if ids:
        d = deliveries.c
        db.session.execute(update(deliveries).where(d.id.in_(ids), d.claimed_by == me)
                           .values(claimed_until=None, claimed_by=None))


def renew_leases(ids: list[int], me: str) -> None:
    """Extend this worker's claims on deliveries it is still sending."""
    if ids:
        d = deliveries.c
        lease = utcnow() + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
        db.session.execute(update(deliveries).where(
            d.id.in_(ids), d.status == PENDING.value, d.claimed_by == me)
            .values(claimed_until=lease))


def release_dead_claims(campaign_ids: list[int], me: str) -> int:
    """Claims of workers known dead: on SQLite every other (one worker holds the lock);
    elsewhere those of a gone process on this host. Others wait for their lease to end."""
    d = deliveries.c
    held = db.session.execute(
        select(d.claimed_by).where(d.campaign_id.in_(campaign_ids), d.status == PENDING.value,
                                   d.claimed_by.is_not(None)).distinct()).scalars().all()
    dead = [owner for owner in held if owner != me and (_is_sqlite() or _gone(owner))]
    if not dead:
        return 0
    return db.session.execute(update(deliveries).where(
        d.campaign_id.in_(campaign_ids), d.status == PENDING.value, d.claimed_by.in_(dead))
        .values(claimed_until=None, claimed_by=None)).rowcount


def _gone(owner: str) -> bool:
    """True when a claim's owner is a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# --- outcomes ----------------------------------------------------------------

def _count(campaign_id: int, sent: int = 0, failed: int = 0, skipped: int = 0) -> None:
    if sent or failed or skipped:
        c = campaigns.c
        db.session.execute(update(campaigns).where(c.id == campaign_id).values(
            sent_count=c.sent_count + sent, failed_count=c.failed_count + failed,
            skipped_count=c.skipped_count + skipped))


_MARK_SENT = ("UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
              "claimed_until = NULL, claimed_by = NULL, smtp_code = 250 "
              "WHERE status = 'pending' AND id IN (IDS)")
_COUNT_SENT = "UPDATE campaigns SET sent_count = sent_count + ? WHERE id = ?"
# PostgreSQL: both in one statement, so a group commit is a single round trip.
_MARK_AND_COUNT_SENT = (
    "WITH marked AS (UPDATE deliveries SET status = 'sent', sent_at = %s, "
    "attempts = attempts + 1, claimed_until = NULL, claimed_by = NULL, smtp_code = 250 "
    "WHERE status = 'pending' AND id = ANY(%s) RETURNING 1) "
    "UPDATE campaigns SET sent_count = sent_count + (SELECT count(*) FROM marked) "
    "WHERE id = %s")


class SentLog:
    """The one way deliveries are marked sent: a group of them marked and counted in one
    short transaction, with plain SQL on a driver connection of its own (this runs
    thousands of times a second; the ORM would cost more than sending the mails)."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        self.pooled = db.engine.raw_connection()
        self.driver = self.pooled.driver_connection
        self.sqlite = isinstance(self.driver, sqlite3.Connection)
        if not self.sqlite:
            # One statement is one transaction. Only the worker can die, not the
            # database: a commit need not wait for the disk, and one lost in a database
            # crash would at worst repeat a mail (PostgreSQL's documented trade).
            self.driver.autocommit = True
            self.driver.execute("SET synchronous_commit = off")

    def write(self, ids: list[int]) -> None:
        """Mark these deliveries sent (if still pending), count them, commit."""
        if self.sqlite:
            self._write_sqlite(ids)
        else:
            self.driver.execute(_MARK_AND_COUNT_SENT, (utcnow(), ids, self.campaign_id))

    def _write_sqlite(self, ids: list[int]) -> None:
        stamp = utcnow().isoformat(" ", "microseconds")
        sql = _MARK_SENT.replace("(IDS)", "(" + ",".join("?" * len(ids)) + ")")
        cursor = self.driver.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")  # the connection is in autocommit mode
            count = cursor.execute(sql, (stamp, *ids)).rowcount
            if count:
                cursor.execute(_COUNT_SENT, (count, self.campaign_id))
            cursor.execute("COMMIT")
        except Exception:
            self.driver.rollback()
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        try:
            if not self.sqlite:
                self.driver.execute("RESET synchronous_commit")
                self.driver.autocommit = False
        finally:
            self.pooled.close()


def mark_failed(campaign_id: int, recipient: Recipient, code: int | None, text: str) -> None:
    """The server refused this delivery for good (or it ran out of attempts)."""
    d = deliveries.c
    count = db.session.execute(
        update(deliveries).where(d.id == recipient.delivery_id, d.status == PENDING.value)
        .values(status=FAILED.value, attempts=d.attempts + 1, claimed_until=None,
                claimed_by=None, smtp_code=code, smtp_message=text[:500])).rowcount
    _count(campaign_id, failed=count)


def retry_delay(attempts: int) -> timedelta:
    """The back-off after `attempts` temporary failures (SEND_RETRY_SECONDS)."""
    return Backoff(current_app.config["SEND_RETRY_SECONDS"]).delay(attempts)


def defer(campaign_id: int, recipient: Recipient, code: int | None, text: str) -> bool:
    """A temporary failure: try again after a back-off, or fail it when out of attempts.
    Returns True when the delivery was given up."""
    attempts = recipient.attempts + 1
    if attempts >= current_app.config["SEND_MAX_ATTEMPTS"]:
        mark_failed(campaign_id, recipient, code, f"nach {attempts} Versuchen: {text}")
        subscriber = db.session.get(Subscriber, recipient.subscriber_id)
        if subscriber is not None and code:  # given up on 4xx answers: a soft bounce
            soft_bounce(campaign_id, subscriber, str(code), text, "delivery")
        return True
    d = deliveries.c
    db.session.execute(
        update(deliveries).where(d.id == recipient.delivery_id, d.status == PENDING.value)
        .values(attempts=attempts, next_attempt_at=utcnow() + retry_delay(attempts),
                claimed_until=None, claimed_by=None, smtp_code=code, smtp_message=text[:500]))
    return False


def record_failure(campaign_id: int, recipient: Recipient, result: Result) -> None:
    """A delivery that was tried and did not go out: refused (failed, a hard bounce also
    suppressed), broken (failed) or deferred/lost (tried again after a back-off)."""
    code, text = result.code, result.text
    if result.outcome in (Outcome.DEFERRED, Outcome.LOST):
        defer(campaign_id, recipient, code, text)
        return
    mark_failed(campaign_id, recipient, code, text)
    if result.outcome == Outcome.REFUSED and code is not None and is_hard_bounce(code, text):
        suppress_bounced(campaign_id, recipient, code, text)


def is_hard_bounce(code: int, text: str) -> bool:
    """A 5xx whose enhanced status is 5.1.x: the mailbox does not exist (or never will)."""
    return 500 <= code < 600 and text.lstrip().startswith("5.1.")


def suppress_bounced(campaign_id: int, recipient: Recipient, code: int, text: str) -> None:
    """Hard bounce in the SMTP dialogue: counted for the campaign's report, then
    subscriptions' mark_bounced."""
    subscriber = db.session.get(Subscriber, recipient.subscriber_id)
    if subscriber is not None:
        record_event(campaign_id, subscriber.id, EventKind.HARD_BOUNCE, str(code))
    mark_bounced(subscriber, recipient.email_key, "delivery", {"smtp": f"{code} {text}"[:300]})


def finish_if_done(campaign_id: int) -> bool:
    """Sending → sent once no delivery is pending; True if it finished now."""
    d = deliveries.c
    pending = db.session.scalar(select(exists().where(
        d.campaign_id == campaign_id, d.status == PENDING.value)))
    campaign = None if pending else _sending_campaign(campaign_id)
    if campaign is None:
        return False
    transitions.finish(campaign)
    log.info("campaign %s sent completely", campaign_id)
    return True


def _sending_campaign(campaign_id: int) -> Campaign | None:
    """The campaign, locked and read afresh, if it is still sending (an editor's pause
    or cancel may have come in meanwhile)."""
    campaign = db.session.get(Campaign, campaign_id, with_for_update=True,
                              populate_existing=True)
    return campaign if campaign is not None and campaign.status == CampaignStatus.SENDING \
        else None


def skip_cancelled() -> int:
    """Cancelled campaigns: their pending deliveries (not leased right now) are skipped."""
    d, now = deliveries.c, utcnow()
    ids = db.session.scalars(select(Campaign.id).where(
        Campaign.status == CampaignStatus.CANCELLED,
        exists().where(d.campaign_id == Campaign.id, d.status == PENDING.value))).all()
    total = 0
    for campaign_id in ids:
        free = select(d.id).where(d.campaign_id == campaign_id, d.status == PENDING.value,
                                  or_(d.claimed_until.is_(None), d.claimed_until < now))
        total += skip_deliveries(campaign_id, list(db.session.scalars(free)))
    return total


def forget_recipient(subscriber_id: int) -> None:
    """Erasure: the person's deliveries keep counting, but no server answer that may
    quote the address stays (the link to the subscriber goes with the foreign key)."""
    d = deliveries.c
    db.session.execute(update(deliveries).where(d.subscriber_id == subscriber_id)
                       .values(smtp_message=""))


# --- the engine's transitions of a campaign -----------------------------------

def pause_for_failures(campaign_id: int, failures: int, last_answer: str) -> None:
    """A run of failures: the campaign pauses (if still sending) and editors are told."""
    campaign = _sending_campaign(campaign_id)
    if campaign is not None:
        transitions.pause_for_failures(campaign, failures, last_answer)


def pause_unrenderable(campaign: Campaign, error: Exception) -> None:
    """A campaign whose mail cannot be built is paused with the reason, not retried."""
    if campaign.status == CampaignStatus.SENDING:
        transitions.pause_unrenderable(campaign, error)


def progress_line(campaign_id: int) -> str:
    """Counters of a campaign as one log line."""
    row = db.session.execute(select(
        campaigns.c.sent_count, campaigns.c.failed_count, campaigns.c.skipped_count,
        campaigns.c.recipients_count).where(campaigns.c.id == campaign_id)).first()
    if row is None:
        return "gone"
    pending = max(row.recipients_count - row.sent_count - row.failed_count - row.skipped_count, 0)
    return json.dumps({"sent": row.sent_count, "failed": row.failed_count,
                       "skipped": row.skipped_count, "pending": pending})
