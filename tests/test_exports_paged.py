"""Long exports are many short reads: each keyset page in a transaction of its own, so a
slow download holds nothing open, and every row comes exactly once in its order."""

import csv
import io
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import select

from owlmail.admin.csvfiles import export_lines as subscriber_lines
from owlmail.contact import services as contact
from owlmail.contact.models import ContactMessage, ContactStatus
from owlmail.contact.services import StatusFilter
from owlmail.extensions import db
from owlmail.subscriptions.models import Topic
from owlmail.timeutil import utcnow
from tests.conftest import PG_URI
from tests.support.campaigns import add_subscribers
from tests.support.contention import sqlite_file


def rows_of(lines) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(lines))))


# --- subscribers -------------------------------------------------------------------

def test_the_subscriber_export_reads_page_by_page_and_holds_no_transaction_between(app):
    with app.app_context():
        ids = add_subscribers(5, topics=["it"])
    with app.test_request_context():
        lines = subscriber_lines(chunk=2)
        taken = [next(lines), next(lines)]  # the header and the first subscriber
        assert not db.session().in_transaction()  # the download may stall here for hours
        taken += list(lines)
    rows = rows_of(taken)
    assert [row["email"] for row in rows] == [f"leser{n}@example.org" for n in range(5)]
    assert len(ids) == 5 and all(row["topics"] == "it" for row in rows)


def test_the_subscriber_export_filters_by_topic_across_pages(app):
    with app.app_context():
        add_subscribers(3, topics=["it"], prefix="it")
        add_subscribers(3, topics=["bildung"], prefix="bildung")
    with app.test_request_context():
        rows = rows_of(subscriber_lines(topic="bildung", chunk=2))
    assert [row["email"] for row in rows] == [f"bildung{n}@example.org" for n in range(3)]


@pytest.mark.skipif(bool(PG_URI), reason="SQLite's WAL")
def test_a_stalled_download_does_not_keep_sqlite_from_checkpointing(app, editor_client):
    """A reader's snapshot keeps the WAL from being checkpointed: with the export in one
    transaction it would grow for as long as the slowest download lasts."""
    with app.app_context():
        add_subscribers(2500)  # three pages of 1,000
    answer = editor_client.get("/admin/subscribers/export.csv", buffered=False)
    body = iter(answer.response)
    next(body), next(body)  # the download stalls after its first lines
    checkpoint = sqlite3.connect(sqlite_file(app))
    busy, _frames, _done = checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    checkpoint.close()
    assert busy == 0
    assert sum(1 for _line in body) == 1 + 2500 - 2  # and then it goes on to the end
    answer.close()


# --- contact messages --------------------------------------------------------------

def add_messages(app, count: int, status: ContactStatus, at, topic: str | None = None) -> None:
    """`count` messages written at the same moment (their order is by id then)."""
    with app.app_context():
        chosen = db.session.scalar(select(Topic).where(Topic.slug == topic)) if topic else None
        for number in range(count):
            db.session.add(ContactMessage(
                name=f"{status.value}-{number}", email=f"{status.value}{number}@example.org",
                message="Hallo", status=status, created_at=at, topic=chosen))
        db.session.commit()


def inbox_order(app, status: StatusFilter = StatusFilter.ALL, topic: str = "") -> list[str]:
    with app.app_context():
        return [row.name for row in db.session.scalars(contact.inbox_query(status, topic))]


@pytest.fixture
def inbox(app, monkeypatch):
    """Eight messages over pages of two, with equal times, in both states."""
    monkeypatch.setattr(contact, "EXPORT_PAGE_SIZE", 2)
    now = utcnow()
    add_messages(app, 3, ContactStatus.NEW, now - timedelta(days=1))
    add_messages(app, 2, ContactStatus.NEW, now, topic="it")
    add_messages(app, 3, ContactStatus.HANDLED, now - timedelta(hours=1), topic="it")
    return app


@pytest.mark.parametrize(("status", "topic"), [
    (StatusFilter.ALL, ""), (StatusFilter.NEW, ""), (StatusFilter.HANDLED, ""),
    (StatusFilter.ALL, "it"),
])
def test_the_contact_export_has_every_message_once_in_the_inbox_order(inbox, editor_client,
                                                                      status, topic):
    answer = editor_client.get(f"/admin/contact/export.csv?status={status.value}&topic={topic}")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    names = [row["name"] for row in rows_of([answer.text])]
    assert names == inbox_order(inbox, status, topic) and names


def test_the_contact_export_holds_no_transaction_between_pages(inbox):
    with inbox.test_request_context():
        lines = contact.export_lines(StatusFilter.ALL, None)
        next(lines), next(lines)
        assert not db.session().in_transaction()
        assert len(list(lines)) == 8 - 1
