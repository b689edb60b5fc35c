"""Draining the outbox: send what is due, retry with back-off, never lose a mail."""

import logging
import time
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, select, update

from ..extensions import db
from ..timeutil import utcnow
from .models import OutboxMail, OutboxStatus
from .transport import MessageDeferred, PermanentFailure, TemporaryFailure, open_transport

log = logging.getLogger(__name__)

# Seconds to wait after the n-th failed attempt; a minute at most (INTERFACE.md).
BACKOFF = (5, 10, 20, 40, 60)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait before the next attempt after `attempts` failures."""
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1])


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
    batch = claim_due(current_app.config["OUTBOX_BATCH_SIZE"])
    if not batch:
        return 0
    hand_back_at = time.monotonic() + current_app.config["SEND_LEASE_SECONDS"] * 0.8
    outcomes, done, sent = Outcomes(), 0, 0
    try:
        with open_transport() as transport:
            for mail in batch:
                if time.monotonic() > hand_back_at:  # a slow server: the lease would end
                    break
                sent += _send_one(transport, mail, outcomes)
                done += 1
    except TemporaryFailure as exc:  # server away or connection lost: the unsent mails wait
        for mail in batch[done:]:
            _postpone(mail, str(exc), outcomes)
        done = len(batch)
    except Exception:
        outcomes.commit()  # what went out stays recorded as sent
        raise
    outcomes.commit()
    _hand_back(batch[done:])
    return sent


def _send_one(transport, mail: Claimed, outcomes: "Outcomes") -> int:
    try:
        transport.send(mail.envelope_from, mail.recipients.split(","), mail.message,
                       str(mail.id))
    except PermanentFailure as exc:
        outcomes.add(mail, status=OutboxStatus.FAILED, last_error=str(exc)[:2000])
        log.warning("outbox mail %s refused for good: %s", mail.id, exc)
        return 0
    except MessageDeferred as exc:
        _postpone(mail, str(exc), outcomes)
        return 0
    outcomes.add(mail, status=OutboxStatus.SENT, sent_at=utcnow())
    return 1


def _postpone(mail: Claimed, error: str, outcomes: "Outcomes") -> None:
    attempts = mail.attempts + 1
    max_age = timedelta(hours=current_app.config["OUTBOX_MAX_AGE_HOURS"])
    if utcnow() - mail.created_at > max_age:
        outcomes.add(mail, status=OutboxStatus.FAILED, last_error=error[:2000])
        log.error("outbox mail %s given up after %s attempts: %s", mail.id, attempts, error)
        return
    outcomes.add(mail, last_error=error[:2000], next_attempt_at=utcnow() + retry_delay(attempts))
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
    from sqlalchemy import func

    waiting = db.session.scalar(
        select(func.count()).where(OutboxMail.status == OutboxStatus.QUEUED)
    )
    oldest = db.session.scalar(
        select(func.min(OutboxMail.created_at)).where(OutboxMail.status == OutboxStatus.QUEUED)
    )
    failed = db.session.scalar(select(func.count()).where(OutboxMail.status == OutboxStatus.FAILED))
    age = int((utcnow() - oldest).total_seconds()) if oldest else 0
    return {"queued": waiting or 0, "failed": failed or 0, "oldest_queued_seconds": age}
