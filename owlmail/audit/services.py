"""Writing, reading and purging the audit log. Nothing here commits: the caller's
transaction carries the entry together with the change it describes."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..text import safe_cell
from ..timeutil import to_utc_naive, utcnow
from ..transactions import writing
from .models import AuditAction, AuditEntry

SYSTEM = "system"
ANONYMOUS = "anonymous"


def record(actor, action: AuditAction, target: str = "") -> AuditEntry:
    """Add an entry: `actor` is an editor (by address), a name such as "cli", or None."""
    entry = AuditEntry(actor=_actor_name(actor), action=AuditAction(action).value,
                       target=target[:300])
    db.session.add(entry)
    return entry


def record_apart(actor, action: AuditAction, target: str = "") -> None:
    """An entry for a request that only reads (an export): a short write of its own,
    committed at once, so the read itself never holds SQLite's write lock."""
    name = _actor_name(actor)  # read before the rollback expires the editor's row
    db.session.rollback()
    with writing():
        record(name, action, target)
        db.session.commit()


def _actor_name(actor) -> str:
    if actor is None:
        return ANONYMOUS
    if isinstance(actor, str):
        return actor[:320]
    return getattr(actor, "email", None) or ANONYMOUS


# Targets name things by id or by a name that is no subscriber's: an erased person's
# address must never outlive the erasure here.
def subscriber_target(subscriber_id: int) -> str:
    return f"subscriber #{subscriber_id}"


def campaign_target(campaign) -> str:
    """"campaign #3" for a campaign or its id."""
    return f"campaign #{getattr(campaign, 'id', campaign)}"


def record_campaign(actor, action: AuditAction, campaign) -> AuditEntry:
    """An entry about a campaign (or campaign id)."""
    return record(actor, action, campaign_target(campaign))


def schedule_action(send_at) -> AuditAction:
    """Scheduling for no time means sending now."""
    return AuditAction.CAMPAIGN_SENT_NOW if send_at is None else AuditAction.CAMPAIGN_SCHEDULED


def editor_target(editor) -> str:
    return f"editor {editor.email}"


def topic_target(topic) -> str:
    return f"topic {topic.slug}"


def topic_changed(actor, topic) -> AuditEntry:
    """An entry for a topic created, renamed, hidden or shown."""
    return record(actor, AuditAction.TOPIC_CHANGED, topic_target(topic))


def field_target(key: str) -> str:
    """Target of a subscriber-field change: record(editor, AuditAction.FIELD_CHANGED,
    field_target(key))."""
    return f"field {key}"


def token_target(token) -> str:
    return f"token #{token.id} ({token.name})" if token.name else f"token #{token.id}"


@dataclass
class AuditFilter:
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None


def _filtered(query, flt: AuditFilter):
    if flt.actor:
        query = query.where(AuditEntry.actor.contains(flt.actor, autoescape=True))
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.since:
        query = query.where(AuditEntry.at >= to_utc_naive(datetime.combine(flt.since, time())))
    if flt.until:
        end = datetime.combine(flt.until + timedelta(days=1), time())
        query = query.where(AuditEntry.at < to_utc_naive(end))
    return query


def newest(flt: AuditFilter, *, page: int = 1, per_page: int = 50) -> list[AuditEntry]:
    """One page of entries matching the filter, newest first."""
    query = _filtered(select(AuditEntry), flt).order_by(AuditEntry.id.desc())
    return list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))


def after(cursor: int | None, limit: int) -> tuple[list[AuditEntry], int | None]:
    """Entries in the order they were written, after the cursor; and the next cursor."""
    query = select(AuditEntry).order_by(AuditEntry.id).limit(limit + 1)
    if cursor:
        query = query.where(AuditEntry.id > cursor)
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


CSV_COLUMNS = ["at", "actor", "action", "target"]


def csv_lines(flt: AuditFilter, chunk: int = 1000) -> Iterator[str]:
    """Every matching entry as CSV lines, oldest first, read in keyset chunks."""
    yield _csv_line(CSV_COLUMNS)
    last = 0
    while True:
        query = _filtered(select(AuditEntry), flt).where(AuditEntry.id > last)
        rows = list(db.session.scalars(query.order_by(AuditEntry.id).limit(chunk)))
        for entry in rows:
            yield _csv_line([entry.at.isoformat() + "Z", entry.actor, entry.action,
                             entry.target])
        if len(rows) < chunk:
            return
        last = rows[-1].id


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


def purge_expired() -> int:
    """Scheduler job: drop entries older than AUDIT_RETENTION_DAYS."""
    cutoff = utcnow() - timedelta(days=current_app.config["AUDIT_RETENTION_DAYS"])
    result = db.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    db.session.commit()  # a scheduler job commits once, at its edge
    return result.rowcount
