"""Draining the outbox: send what is due, retry with back-off, never lose a mail."""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

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


def claim_due(limit: int) -> list[OutboxMail]:
    """Queued mails whose time has come, locked so a second worker skips them."""
    query = (
        select(OutboxMail)
        .where(OutboxMail.status == OutboxStatus.QUEUED, OutboxMail.next_attempt_at <= utcnow())
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(db.session.scalars(query))


def send_due_mail() -> int:
    """Send one batch of due mails; commit their new state. Returns how many were sent."""
    batch = claim_due(current_app.config["OUTBOX_BATCH_SIZE"])
    if not batch:
        db.session.rollback()
        return 0
    sent = 0
    try:
        with open_transport() as transport:
            for row in batch:
                sent += _send_one(transport, row)
    except TemporaryFailure as exc:  # server away or connection lost: the unsent rows wait
        for row in batch:
            if row.status == OutboxStatus.QUEUED:
                _postpone(row, str(exc))
    db.session.commit()
    return sent


def _send_one(transport, row: OutboxMail) -> int:
    if row.status != OutboxStatus.QUEUED:
        return 0
    try:
        transport.send(row.envelope_from, row.recipients.split(","), row.message, str(row.id))
    except PermanentFailure as exc:
        row.status, row.last_error = OutboxStatus.FAILED, str(exc)
        row.attempts += 1
        log.warning("outbox mail %s refused for good: %s", row.id, exc)
        return 0
    except MessageDeferred as exc:
        _postpone(row, str(exc))
        return 0
    row.status, row.sent_at = OutboxStatus.SENT, utcnow()
    row.attempts += 1
    return 1


def _postpone(row: OutboxMail, error: str) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    max_age = timedelta(hours=current_app.config["OUTBOX_MAX_AGE_HOURS"])
    if utcnow() - row.created_at > max_age:
        row.status = OutboxStatus.FAILED
        log.error("outbox mail %s given up after %s attempts: %s", row.id, row.attempts, error)
        return
    row.next_attempt_at = utcnow() + retry_delay(row.attempts)
    log.info("outbox mail %s postponed (attempt %s): %s", row.id, row.attempts, error)


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
