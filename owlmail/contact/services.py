"""Contact messages: store, mail to CONTACT_RECIPIENT, keep an inbox, expire."""

import csv
import enum
import functools
import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

from flask import current_app, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import Select, and_, case, delete, func, or_, select

from ..addresses import ascii_address, normalize_address
from ..auth.models import Editor
from ..extensions import db
from ..mail.mime import format_address
from ..outbox.message import build_message, queue_mail, render_mail
from ..subscriptions.models import Topic
from ..subscriptions.services import AUTO_HEADERS, topic_label
from ..subscriptions.services import topic_choices as newsletter_topic_choices
from ..text import one_line, safe_cell
from ..timeutil import berlin, utcnow
from ..transactions import end_read, paged
from .models import ContactMessage, ContactStatus

log = logging.getLogger(__name__)
PAGE_SIZE = 50


class StatusFilter(enum.StrEnum):
    """The inbox's status choice: everything, new only, handled only."""

    ALL = ""
    NEW = "new"
    HANDLED = "handled"


# --- cleaning --------------------------------------------------------------

def clean_message(text: str | None) -> str:
    """Line ends as \\n, no control characters except newline and tab, no outer blank lines."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return kept.strip("\n").rstrip()


# --- writing in ------------------------------------------------------------

def topic_choices() -> list[tuple[str, str]]:
    """The form's topics: the newsletter's visible topics, after "no particular topic"."""
    return [("", _("– kein bestimmtes Thema –")), *newsletter_topic_choices()]


def submit_message(name: str, email: str, topic_slug: str | None, text: str) -> ContactMessage:
    """Store a message and queue its mail to CONTACT_RECIPIENT in the same transaction."""
    address, _ = normalize_address(email)
    topic = None
    if topic_slug:
        topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug,
                                                      Topic.hidden.is_(False)))
    row = ContactMessage(name=one_line(name, 200), email=address, topic=topic,
                         message=clean_message(text), status=ContactStatus.NEW,
                         created_at=utcnow(), language=str(get_locale()))
    db.session.add(row)
    db.session.flush()  # the mail links to the message in the inbox
    queue_contact_mail(row)
    return row


def contact_subject(row: ContactMessage) -> str:
    """The subject the team sees: the topic when one was chosen, else the writer's name."""
    if row.topic:
        return _("Kontaktformular: Idee zu %(topic)s", topic=row.topic.name)
    return _("Kontaktformular: Nachricht von %(name)s", name=one_line(row.name, 200))


def reply_address(row: ContactMessage) -> str:
    """The writer as a header value; the email package quotes and encodes the name."""
    return format_address(one_line(row.name, 200), ascii_address(row.email))


def queue_contact_mail(row: ContactMessage) -> None:
    """A text/plain mail to the team, Reply-To the writer; no copy goes to the writer."""
    inbox_url = current_app.config["BASE_URL"] + url_for(
        "contact_admin.detail", message_id=row.id, _external=False)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):  # the team's language
        text, _html = render_mail("contact", message=row, inbox_url=inbox_url,
                                  received=berlin(row.created_at))
        subject = contact_subject(row)
    msg = build_message(current_app.config["CONTACT_RECIPIENT"], subject, text,
                        reply_to=reply_address(row), headers=AUTO_HEADERS)
    queue_mail(msg, "contact", about=row.email)


# --- the inbox -------------------------------------------------------------

def inbox_query(status: StatusFilter, topic_slug: str | None) -> Select:
    """Messages matching the filters: new ones first, newest first within each status."""
    query = select(ContactMessage)
    if status != StatusFilter.ALL:
        query = query.where(ContactMessage.status == ContactStatus(status.value))
    if topic_slug:
        query = query.join(Topic).where(Topic.slug == topic_slug)
    new_first = case((ContactMessage.status == ContactStatus.NEW, 0), else_=1)
    return query.order_by(new_first, ContactMessage.created_at.desc(), ContactMessage.id.desc())


def inbox_page(status: StatusFilter, topic_slug: str | None,
               page: int) -> tuple[list[ContactMessage], bool]:
    """One page of the inbox and whether another follows."""
    query = inbox_query(status, topic_slug).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = list(db.session.scalars(query))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def count_new() -> int:
    """How many messages wait for an answer."""
    query = select(func.count()).where(ContactMessage.status == ContactStatus.NEW)
    return db.session.scalar(query) or 0


def all_topics() -> list[Topic]:
    """Every topic, hidden ones too: old messages may name them."""
    return list(db.session.scalars(select(Topic).order_by(Topic.position, Topic.name)))


def mark_handled(row: ContactMessage, editor: Editor) -> None:
    """Record who handled the message and when; handling twice keeps the first record."""
    if row.status == ContactStatus.HANDLED:
        return
    row.status = ContactStatus.HANDLED
    row.handled_at = utcnow()
    row.handled_by_id = editor.id


def reopen(row: ContactMessage) -> None:
    """Put a handled message back among the new ones."""
    row.status = ContactStatus.NEW
    row.handled_at = None
    row.handled_by_id = None


def reply_subject(row: ContactMessage) -> str:
    """What the writer sees as the subject of the team's answer (in the writer's language)."""
    with force_locale(row.language):
        if row.topic:
            return _("Re: Ihre Idee zu %(topic)s", topic=topic_label(row.topic.name))
        return _("Re: Ihre Nachricht an OWL morgen")


def reply_body(row: ContactMessage) -> str:
    """A greeting, room for the answer, and the original quoted below it."""
    moment = berlin(row.created_at)
    quoted = "\n".join(f"> {line}" if line else ">" for line in row.message.split("\n"))
    with force_locale(row.language):
        return "\n\n".join((
            _("Guten Tag %(name)s,", name=one_line(row.name, 200)),
            _("vielen Dank für Ihre Nachricht.") + "\n\n",
            _("Mit freundlichen Grüßen") + "\nOWL morgen",
            _("Am %(date)s um %(time)s schrieben Sie:", date=moment.strftime("%d.%m.%Y"),
              time=moment.strftime("%H:%M")) + f"\n{quoted}\n"))


def reply_mailto(row: ContactMessage) -> str:
    """A mailto: link (RFC 6068) that opens the editor's mail client with the answer begun."""
    address = quote(ascii_address(row.email), safe="@")
    subject = quote(reply_subject(row), safe="")
    body = quote(reply_body(row).replace("\n", "\r\n"), safe="")
    return f"mailto:{address}?subject={subject}&body={body}"


# --- export ----------------------------------------------------------------

EXPORT_PAGE_SIZE = 500
EXPORT_COLUMNS = ["id", "created_at", "name", "email", "topic", "status", "handled_at",
                  "handled_by", "message"]


def _iso(moment) -> str:
    return berlin(moment).isoformat(timespec="seconds") if moment else ""


def _csv_line(cells: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(value) for value in cells])
    return out.getvalue()


def _export_cells(row: ContactMessage, editors: dict[int, str]) -> list[object]:
    return [row.id, _iso(row.created_at), row.name, row.email,
            row.topic.name if row.topic else "", row.status.value, _iso(row.handled_at),
            editors.get(row.handled_by_id, ""), row.message]


def _export_page(status: ContactStatus, topic_slug: str | None, editors: dict[int, str],
                 after: tuple | None) -> tuple[list[str], tuple | None]:
    """One page of the export: messages of one status, newest first, after the key
    (created_at, id) of the previous page's last message."""
    query = inbox_query(StatusFilter(status.value), topic_slug).limit(EXPORT_PAGE_SIZE)
    if after is not None:
        created_at, row_id = after
        query = query.where(or_(ContactMessage.created_at < created_at, and_(
            ContactMessage.created_at == created_at, ContactMessage.id < row_id)))
    rows = list(db.session.scalars(query))
    lines = [_csv_line(_export_cells(row, editors)) for row in rows]
    more = len(rows) == EXPORT_PAGE_SIZE
    return lines, ((rows[-1].created_at, rows[-1].id) if more else None)


def export_lines(status: StatusFilter, topic_slug: str | None) -> Iterator[str]:
    """UTF-8 CSV lines with a header row, in the inbox's order (new ones first, newest
    first); times in Europe/Berlin with their offset. Read a page at a time, each in a
    brief transaction of its own, so a slow download holds nothing open."""
    yield _csv_line(EXPORT_COLUMNS)
    editors = {e.id: e.email for e in db.session.scalars(select(Editor))}
    end_read()
    for wanted in (ContactStatus.NEW, ContactStatus.HANDLED):
        if status in (StatusFilter.ALL, StatusFilter(wanted.value)):
            yield from paged(functools.partial(_export_page, wanted, topic_slug, editors))


# --- housekeeping ----------------------------------------------------------

def forget_writer(addresses: set[str]) -> int:
    """Erasure: delete the messages written from any of these forms of one address."""
    lowered = {address.lower() for address in addresses}
    return db.session.execute(delete(ContactMessage).where(
        func.lower(ContactMessage.email).in_(lowered))).rowcount


def purge_expired_messages() -> int:
    """Scheduled: delete contact messages older than CONTACT_RETENTION_DAYS; commits once."""
    cutoff = utcnow() - timedelta(days=current_app.config["CONTACT_RETENTION_DAYS"])
    result = db.session.execute(delete(ContactMessage).where(ContactMessage.created_at < cutoff))
    db.session.commit()
    count = result.rowcount or 0
    if count:
        log.info("deleted %s contact messages older than the retention period", count)
    return count
