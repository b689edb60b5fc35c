"""Draining the outbox: send what is due, retry with back-off, never lose a mail, and keep
nothing personal longer than needed (bytes dropped once sent; failed ones purged)."""

import logging
import time
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, delete, func, or_, select, update

from ..addresses import (
    InvalidAddress,
    address_hash,
    ascii_address,
    normalize_address,
)
from ..extensions import db
from ..mail.retry import OUTBOX_BACKOFF
from ..mail.transport import ConnectionLost, Deferred, Refused, make_connection
from ..timeutil import utcnow
from .models import OutboxMail, OutboxStatus

log = logging.getLogger(__name__)


class Claimed(NamedTuple):
    """A mail leased to this worker: what sending and recording its outcome need."""

    id: int
    envelope_from: str
    recipients: str
    message: bytes
    attempts: int
    created_at: datetime


def claim_due(limit: int) -> list[Claimed]:
    """Lease queued mails whose time has come to this worker, in a transaction of its own.

    No transaction stays open while SMTP talks: on SQLite it would hold the one write
    lock for a whole batch and every sign-up would wait for it. A leased mail is not
    due for anyone else until SEND_LEASE_SECONDS have passed, so the mails of a worker
    that died are sent by the next one then."""
    table, now = OutboxMail.__table__, utcnow()
    conn = db.session.connection()
    rows = conn.execute(
        select(table.c.id, table.c.envelope_from, table.c.recipients, table.c.message,
               table.c.attempts, table.c.created_at)
        .where(table.c.status == OutboxStatus.QUEUED, table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        lease = timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
        conn.execute(update(table).where(table.c.id.in_([row.id for row in rows]))
                     .values(next_attempt_at=now + lease))
    db.session.commit()
    return [Claimed(*row) for row in rows]


RECORD_EVERY = 10  # outcomes per commit: a worker killed mid-batch repeats at most these


def send_due_mail() -> int:
    """Send one batch of due mails; their outcomes are committed every RECORD_EVERY mails
    and at the end. Returns how many were sent."""
    connection = make_connection()  # first: with nowhere to send, nothing is leased
    batch = claim_due(current_app.config["OUTBOX_BATCH_SIZE"])
    if not batch:
        return 0
    hand_back_at = time.monotonic() + current_app.config["SEND_LEASE_SECONDS"] * 0.8
    outcomes, done, sent = Outcomes(), 0, 0
    try:
        for mail in batch:
            if time.monotonic() > hand_back_at:  # a slow server: the lease would end
                break
            sent += _send_one(connection, mail, outcomes)
            done += 1
    except ConnectionLost as exc:  # server away or connection lost: the unsent mails wait
        for mail in batch[done:]:
            _postpone(mail, str(exc), outcomes)
        done = len(batch)
    except Exception:
        outcomes.commit()  # what went out stays recorded as sent
        raise
    finally:
        connection.close()
    outcomes.commit()
    _hand_back(batch[done:])
    return sent


# What a sent mail keeps: kind, times, outcome and the hashes; no address, subject or bytes.
FORGET_CONTENT = {"message": None, "recipients": "", "subject": ""}


def _send_one(connection, mail: Claimed, outcomes: "Outcomes") -> int:
    try:
        connection.send(mail.envelope_from, mail.recipients.split(","), mail.message,
                        str(mail.id))
    except Refused as exc:
        outcomes.add(mail, status=OutboxStatus.FAILED, last_error=str(exc)[:2000])
        log.warning("outbox mail %s refused for good: %s", mail.id, exc)
        return 0
    except Deferred as exc:
        _postpone(mail, str(exc), outcomes)
        return 0
    outcomes.add(mail, status=OutboxStatus.SENT, sent_at=utcnow(), **FORGET_CONTENT)
    return 1


def _postpone(mail: Claimed, error: str, outcomes: "Outcomes") -> None:
    attempts = mail.attempts + 1
    max_age = timedelta(hours=current_app.config["OUTBOX_MAX_AGE_HOURS"])
    if utcnow() - mail.created_at > max_age:
        outcomes.add(mail, status=OutboxStatus.FAILED, last_error=error[:2000])
        log.error("outbox mail %s given up after %s attempts: %s", mail.id, attempts, error)
        return
    outcomes.add(mail, last_error=error[:2000],
                 next_attempt_at=utcnow() + OUTBOX_BACKOFF.delay(attempts))
    log.info("outbox mail %s postponed (attempt %s): %s", mail.id, attempts, error)


class Outcomes:
    """What became of the mails of a batch, committed in groups of RECORD_EVERY.

    A commit per mail kept the one worker waiting for the database between mails, and it
    fell behind under load; a commit per batch would send a whole batch again after a
    kill -9. Plain UPDATEs: the ORM is not needed here."""

    def __init__(self) -> None:
        self.pending: list[tuple[Claimed, dict]] = []

    def add(self, mail: Claimed, **values) -> None:
        self.pending.append((mail, values))
        if len(self.pending) >= RECORD_EVERY:
            self.commit()

    def commit(self) -> None:
        """Write the pending outcomes in one short transaction.

        On PostgreSQL the commit does not wait for the disk: only the worker can die
        here, and an outcome lost in a database crash would at worst repeat that mail."""
        if not self.pending:
            return
        table, conn = OutboxMail.__table__, db.session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        by_columns: dict[tuple, list[dict]] = {}
        for mail, values in self.pending:  # one executemany per set of changed columns
            by_columns.setdefault(tuple(values), []).append(
                {"mail_id": mail.id, "attempts": mail.attempts + 1, **values})
        for params in by_columns.values():
            conn.execute(update(table).where(table.c.id == bindparam("mail_id")), params)
        db.session.commit()
        self.pending.clear()


def _hand_back(mails: list[Claimed]) -> None:
    """Leased mails this worker did not get to: due again now, not when the lease ends."""
    if mails:
        db.session.execute(update(OutboxMail).where(OutboxMail.id.in_([m.id for m in mails]))
                           .values(next_attempt_at=utcnow()))
        db.session.commit()


def drain_outbox(max_batches: int = 20) -> int:
    """Send due mail until none is left (bounded); the scheduler job."""
    total = 0
    for _ in range(max_batches):
        sent = send_due_mail()
        total += sent
        if sent < current_app.config["OUTBOX_BATCH_SIZE"]:
            break
    return total


def queue_state() -> dict[str, int]:
    """Counts for /healthz: mails waiting, failed, and the oldest wait in seconds."""
    waiting = db.session.scalar(
        select(func.count()).where(OutboxMail.status == OutboxStatus.QUEUED)
    )
    oldest = db.session.scalar(
        select(func.min(OutboxMail.created_at)).where(OutboxMail.status == OutboxStatus.QUEUED)
    )
    failed = db.session.scalar(select(func.count()).where(OutboxMail.status == OutboxStatus.FAILED))
    age = int((utcnow() - oldest).total_seconds()) if oldest else 0
    return {"queued": waiting or 0, "failed": failed or 0, "oldest_queued_seconds": age}


# --- retention and erasure -------------------------------------------------------------

def person_hash(email: str) -> str:
    """The keyed hash of an address as the suppression list keeps it (its normal form)."""
    try:
        key = normalize_address(email)[1]
    except InvalidAddress:  # e.g. a configured team address in an unusual form
        key = email.strip().lower()
    return address_hash(key)


def forget_person(email: str) -> int:
    """Delete every stored outbox mail sent to, or about, this person (erasure); the
    caller commits. Returns how many rows went."""
    hashed = person_hash(email)
    table = OutboxMail.__table__
    return db.session.execute(delete(table).where(or_(
        table.c.about_hash == hashed, table.c.recipient_hash.contains(hashed, autoescape=True),
        # rows from before the hashes (or before a change of hash key) that still hold it
        table.c.recipients == ascii_address(email.strip()),
    ))).rowcount


def purge_failed_mail() -> int:
    """Drop the bytes, addresses and subject of mails that failed more than
    OUTBOX_FAILED_RETENTION_DAYS ago (the scheduler job; commits). Returns how many."""
    days = current_app.config["OUTBOX_FAILED_RETENTION_DAYS"]
    table = OutboxMail.__table__
    count = db.session.execute(
        update(table)
        # next_attempt_at of a failed mail is when it was last claimed, i.e. when it failed
        .where(table.c.status == OutboxStatus.FAILED, table.c.message.is_not(None),
               table.c.next_attempt_at < utcnow() - timedelta(days=days))
        .values(**FORGET_CONTENT)).rowcount
    db.session.commit()
    if count:
        log.info("outbox: content of %s failed mails dropped", count)
    return count
