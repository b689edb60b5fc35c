"""Subscribers as UTF-8 CSV: import with proof of consent, streamed export.

Columns: email,name,topics,status,confirmed_at,consent_source (topics are slugs
separated by `;`). A row becomes `confirmed` only with both confirmed_at (ISO 8601)
and consent_source; every other row is pending and gets the double opt-in mail.
Erased (suppressed) addresses and existing subscribers are never changed.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..addresses import InvalidAddress, normalize_address
from ..extensions import db
from ..outbox.message import template_version
from ..subscriptions.consent import Evidence
from ..subscriptions.fields import csvcolumns
from ..subscriptions.models import Subscriber, SubscriberStatus, Topic
from ..subscriptions.queries import iso
from ..subscriptions.services import (
    queue_confirmation,
    record,
    start_pending,
    suppressed_among,
)
from ..text import FORMULA_STARTS, is_single_line, safe_cell
from ..timeutil import to_utc_naive, utcnow
from ..transactions import paged
from .services import AdminError

COLUMNS = ["email", "name", "topics", "status", "confirmed_at", "consent_source"]
EXPORT_COLUMNS = [*COLUMNS, "consent_history"]
CHUNK = 500


@dataclass
class Problem:
    line: int
    message: str
    email: str = ""


@dataclass
class ImportReport:
    """What an import did, with a line number for every row it left alone."""

    confirmed: int = 0
    pending: int = 0
    existing: list[Problem] = field(default_factory=list)
    suppressed: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.confirmed + self.pending


@dataclass
class Row:
    """One valid row, ready to be stored."""

    line: int
    email: str
    key: str
    name: str
    topics: list[Topic]
    confirmed_at: datetime | None
    consent_source: str
    fields: dict[str, str] = field(default_factory=dict)  # subscriber fields by key


class RowError(ValueError):
    """A row that cannot be imported; the message is German."""


# --- reading ---------------------------------------------------------------

def unquote_cell(value: str) -> str:
    """Undo the export's formula guard (a leading ' before = + - @)."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def _header(header: list[str]) -> list[str]:
    """The column names of the file; AdminError when they are not ours."""
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in [*EXPORT_COLUMNS,
                                                      *csvcolumns.field_columns()]]
    if "email" not in names or unknown or len(set(names)) != len(names):
        raise AdminError(_("Die erste Zeile muss die Spalten %(columns)s nennen.",
                           columns=",".join(COLUMNS)), 400, "invalid_csv")
    return names


def _records(text: Iterable[str], offset: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file, cells) for every row after the header's `offset` lines."""
    reader = csv.reader(text, strict=True)
    last_line = offset
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise AdminError(_("Die CSV-Datei ist ab Zeile %(line)s nicht lesbar (%(error)s).",
                               line=last_line + 1, error=str(exc)), 400, "invalid_csv")
        yield last_line + 1, cells
        last_line = offset + reader.line_num


def parse_topics(value: str, topics: dict[str, Topic]) -> list[Topic]:
    """Topic slugs separated by `;`; none means every visible topic."""
    slugs = [slug.strip().lower() for slug in value.split(";") if slug.strip()]
    unknown = [slug for slug in slugs if slug not in topics]
    if unknown:
        raise RowError(_("Unbekanntes Thema „%(slug)s“.", slug=unknown[0][:64]))
    if not slugs:
        return [topic for topic in topics.values() if not topic.hidden]
    return [topics[slug] for slug in dict.fromkeys(slugs)]


def parse_moment(value: str) -> datetime | None:
    """An ISO 8601 time (naive means Berlin) as naive UTC; not in the future."""
    if not value:
        return None
    try:
        moment = to_utc_naive(datetime.fromisoformat(value))
    except ValueError:
        raise RowError(_("„%(value)s“ ist kein Datum nach ISO 8601 (z. B. "
                         "2024-05-17T09:30:00+02:00).", value=value[:40]))
    if moment > utcnow():
        raise RowError(_("Das Bestätigungsdatum liegt in der Zukunft."))
    return moment


def _single_line(value: str, limit: int, label: str) -> str:
    if not is_single_line(value):
        raise RowError(_("Zeilenumbruch oder Steuerzeichen im Feld „%(label)s“.", label=label))
    if len(value) > limit:
        raise RowError(_("Das Feld „%(label)s“ ist zu lang.", label=label))
    return value.strip()


def parse_row(line: int, names: list[str], cells: list[str], topics: dict[str, Topic]) -> Row:
    """Validate one row; RowError says what is wrong with it."""
    if len(cells) != len(names):
        raise RowError(_("%(found)s statt %(wanted)s Spalten.", found=len(cells),
                         wanted=len(names)))
    values = {name: unquote_cell(cell) for name, cell in zip(names, cells, strict=True)}
    try:
        email, key = normalize_address(_single_line(values["email"], 320, "email"))
    except InvalidAddress as exc:
        raise RowError(str(exc))
    status = values.get("status", "").strip().lower()
    if status not in ("", SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING):
        raise RowError(_("Unbekannter Status „%(status)s“ (erlaubt: confirmed, pending).",
                         status=status[:32]))
    confirmed_at = parse_moment(values.get("confirmed_at", "").strip())
    source = _single_line(values.get("consent_source", ""), 500, "consent_source")
    if status == SubscriberStatus.PENDING or not source:
        confirmed_at = None  # no full proof of consent: double opt-in it is
    try:
        answers = csvcolumns.parse_cells(values)
    except ValueError as exc:
        raise RowError(str(exc))
    return Row(line, email, key, _single_line(values.get("name", ""), 200, "name"),
               parse_topics(values.get("topics", ""), topics), confirmed_at, source, answers)


# --- storing ---------------------------------------------------------------

def import_subscribers(text: Iterable[str], *, origin: str) -> ImportReport:
    """Import CSV rows (not committed): valid new rows stored, the rest reported by line."""
    report = ImportReport()
    lines = iter(text)
    try:
        names = _header(next(csv.reader([next(lines).lstrip("\ufeff")])))
    except StopIteration:
        raise AdminError(_("Die Datei ist leer."), 400, "invalid_csv")
    topics = {topic.slug: topic for topic in db.session.scalars(select(Topic))}
    seen: dict[str, int] = {}
    batch: list[Row] = []
    for line, cells in _records(lines):
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        try:
            row = parse_row(line, names, cells, topics)
        except RowError as exc:
            report.errors.append(Problem(line, str(exc), cells[0][:100] if cells else ""))
            continue
        if row.key in seen:
            report.errors.append(Problem(line, _("Doppelt in der Datei (wie Zeile %(line)s).",
                                                 line=seen[row.key]), row.email))
            continue
        seen[row.key] = line
        batch.append(row)
        if len(batch) >= CHUNK:
            _store_batch(batch, report, origin)
            batch = []
    _store_batch(batch, report, origin)
    return report


def _store_batch(rows: list[Row], report: ImportReport, origin: str) -> None:
    """Store a chunk of rows: two queries find the existing and the suppressed ones."""
    if not rows:
        return
    keys = [row.key for row in rows]
    existing = set(db.session.scalars(select(Subscriber.email_key).where(
        Subscriber.email_key.in_(keys))))
    suppressed = suppressed_among(keys)
    new = []
    for row in rows:
        if row.key in suppressed:
            report.suppressed.append(Problem(row.line, _("Gesperrt: Die Adresse wurde auf "
                                                         "Wunsch gelöscht."), row.email))
        elif row.key in existing:
            report.existing.append(Problem(row.line, _("Schon vorhanden."), row.email))
        else:
            new.append((row, _new_subscriber(row)))
    db.session.flush()  # one round for the chunk: events and confirmation links need ids
    csvcolumns.store_imported([(subscriber.id, row.fields) for row, subscriber in new])
    mail_version = template_version("confirm")
    for row, subscriber in new:
        _record_import(row, subscriber, origin, mail_version, report)
    db.session.flush()


def _new_subscriber(row: Row) -> Subscriber:
    """A new subscriber: confirmed with the evidence given, else pending (double opt-in)."""
    subscriber = Subscriber(email=row.email, email_key=row.key, name=row.name, source="import")
    db.session.add(subscriber)
    if row.confirmed_at:
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = subscriber.requested_at = row.confirmed_at
        subscriber.topics = row.topics
    else:
        start_pending(subscriber, row.name, row.topics)
    return subscriber


def _record_import(row: Row, subscriber: Subscriber, origin: str, mail_version: str,
                   report: ImportReport) -> None:
    """The "imported" consent event; pending people also get the confirmation mail."""
    detail = {"origin": origin[:200], "line": row.line, "topics": [t.slug for t in row.topics],
              **({"fields": row.fields} if row.fields else {})}
    evidence = Evidence(None, None, row.consent_source[:500] or None)
    if subscriber.status == SubscriberStatus.CONFIRMED:
        record(subscriber, "imported", evidence,
               detail={**detail, "confirmed_at": iso(row.confirmed_at)})
        report.confirmed += 1
        return
    record(subscriber, "imported", evidence, mail_template_version=mail_version,
           detail={**detail, "status": "pending"})
    queue_confirmation(subscriber)
    report.pending += 1


# --- export ----------------------------------------------------------------

def _consent_source(subscriber: Subscriber) -> str:
    """Where consent was given: the import evidence or the sign-up page."""
    for event in reversed(subscriber.consent_events):
        if event.action in ("imported", "confirmed", "requested") and event.source_url:
            return event.source_url
    return ""


def _history(subscriber: Subscriber) -> str:
    """The consent history as compact JSON (time, action, IP, agent, versions)."""
    events = [{"at": iso(e.at), "action": e.action, "ip": e.ip, "user_agent": e.user_agent,
               "source_url": e.source_url, "consent_text_version": e.consent_text_version,
               "mail_template_version": e.mail_template_version}
              for e in subscriber.consent_events]
    return json.dumps(events, ensure_ascii=False, separators=(",", ":"))


def export_row(subscriber: Subscriber) -> list[str]:
    """One subscriber as export cells."""
    values = [subscriber.email, subscriber.name, ";".join(t.slug for t in subscriber.topics),
              subscriber.status.value, iso(subscriber.confirmed_at) or "",
              _consent_source(subscriber), _history(subscriber)]
    return [safe_cell(value) for value in values]


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def export_lines(status: SubscriberStatus | None = None, topic: str | None = None,
                 chunk: int = 1000) -> Iterator[str]:
    """The export as CSV lines, read in keyset pages of `chunk` subscribers, each page in a
    brief transaction of its own: memory stays flat, and a slow download holds nothing open
    (subscribers who change meanwhile appear as they are when their page is read). One
    column per subscriber field follows the fixed ones."""
    keys = csvcolumns.field_columns()
    yield _csv_line([*EXPORT_COLUMNS, *keys])
    query = select(Subscriber).options(selectinload(Subscriber.consent_events)).order_by(
        Subscriber.id).limit(chunk)
    if status is not None:
        query = query.where(Subscriber.status == status)
    if topic:
        query = query.where(Subscriber.topics.any(Topic.slug == topic))

    def read_page(after: int | None) -> tuple[list[str], int | None]:
        rows = list(db.session.scalars(query.where(Subscriber.id > (after or 0))))
        answers = csvcolumns.export_cells([subscriber.id for subscriber in rows], keys)
        lines = [_csv_line([*export_row(subscriber),
                            *(safe_cell(cell) for cell in answers[subscriber.id])])
                 for subscriber in rows]
        return lines, (rows[-1].id if len(rows) == chunk else None)

    yield from paged(read_page)
