"""SQLite's one write lock: readers never wait for it, writers take it up front.

Another writer (a second gunicorn worker, the worker process) holds the lock while
these run. A page view or an API list must answer at once; a unit of work that writes
must wait its turn and then succeed, never fail with "database is locked" because it
read before the other writer committed."""

import logging
import time
import warnings
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from owlmail.audit.models import AuditEntry
from owlmail.auth.models import ApiToken
from owlmail.contact.models import ContactMessage
from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail, OutboxStatus
from owlmail.scheduler import _in_app_context, job_table
from owlmail.subscriptions.models import Subscriber, SubscriberStatus, Topic
from owlmail.timeutil import utcnow
from owlmail.transactions import ReadOnlyWrite, writes
from tests.conftest import PG_URI, FormClient
from tests.support.campaigns import add_campaign, add_subscribers, delivery_counts
from tests.support.contention import lock_held
from tests.test_api import Api, make_token

pytestmark = pytest.mark.skipif(bool(PG_URI), reason="SQLite's write lock (PostgreSQL locks rows)")

# Longer than any answer may take here, shorter than SQLite's busy timeout (10 s): an
# answer that waited for the lock shows up as slow, not as a hang.
LONG_HOLD = 6.0
# Short enough for a writer to wait it out, long enough that it read meanwhile.
SHORT_HOLD = 0.5
FORM = {"name": "Anna Müller", "topics": ["bildung"], "consent": "y"}


def subscribe(client, email: str):
    return FormClient(client).submit("/", {**FORM, "email": email}, action="/subscribe")


# --- reading never waits -----------------------------------------------------------

def test_pages_answer_while_another_process_holds_the_write_lock(app, editor_client):
    add_people(app, 3)
    with lock_held(app, LONG_HOLD):
        started = time.monotonic()
        for path in ("/", "/admin/", "/admin/subscribers", "/admin/contact/", "/healthz"):
            assert editor_client.get(path).status_code == 200, path
        assert time.monotonic() - started < LONG_HOLD / 2


def test_an_export_reads_without_the_lock_and_waits_only_to_note_itself(app, editor_client):
    """An export is audited (issue 13): that one entry is a short write of its own, made
    before the rows stream; the rows themselves are read in pages, without the lock."""
    add_people(app, 3)
    for path in ("/admin/subscribers/export.csv", "/admin/contact/export.csv"):
        with lock_held(app, SHORT_HOLD):
            answer = editor_client.get(path)
            assert answer.status_code == 200, path
            assert answer.text.startswith(("email,", "id,")), path  # the whole download
    assert editor_client.get("/admin/subscribers/export.csv").text.count("@example.org") == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "subscribers.export")) == 3


def test_api_lists_answer_while_another_process_holds_the_write_lock(app):
    add_people(app, 3)
    api = Api(app.test_client(), make_token(app))
    assert api.get("/topics").status_code == 200  # the token's use is noted now
    with lock_held(app, LONG_HOLD):
        started = time.monotonic()
        page = api.get("/subscribers?limit=2")
        assert page.status_code == 200 and page.json["next"]
        assert api.get(f"/subscribers?after={page.json['next']}").status_code == 200
        assert api.get("/campaigns").status_code == 200
        assert time.monotonic() - started < LONG_HOLD / 2


def test_the_command_line_export_runs_while_another_process_holds_the_write_lock(app, runner):
    """Its rows are read without the lock; its audit entry is a short write that waits."""
    add_people(app, 3)
    with lock_held(app, SHORT_HOLD):
        result = runner.invoke(args=["subscribers", "export"])
    assert result.exit_code == 0 and result.output.count("@example.org") == 3


def test_a_token_used_again_after_a_minute_is_noted_even_while_another_process_writes(app):
    api = Api(app.test_client(), make_token(app))
    assert api.get("/topics").status_code == 200
    an_hour_ago = utcnow() - timedelta(hours=1)
    with app.app_context():
        db.session.execute(update(ApiToken).values(last_used_at=an_hour_ago))
        db.session.commit()
    with lock_held(app, SHORT_HOLD):
        assert api.get("/topics").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(ApiToken.last_used_at)) > an_hour_ago


# --- writing takes the lock up front ---------------------------------------------

def test_a_sign_up_waits_for_another_writer_and_succeeds(app):
    client = app.test_client()
    with lock_held(app, SHORT_HOLD):
        assert subscribe(client, "anna@example.org").status_code == 200
    assert stored_emails(app) == ["anna@example.org"]


def test_the_outbox_job_sends_while_another_process_writes(smtp_app, smtp, caplog):
    subscribe(smtp_app.test_client(), "anna@example.org")
    with lock_held(smtp_app, SHORT_HOLD):
        run_job(smtp_app, "outbox")
    assert len(smtp.messages_to("anna@example.org")) == 1
    with smtp_app.app_context():
        assert db.session.scalar(select(OutboxMail.status)) == OutboxStatus.SENT
    assert_no_job_failed(caplog)


def test_the_campaign_job_claims_and_sends_while_another_process_writes(smtp_app, smtp,
                                                                         caplog):
    with smtp_app.app_context():
        add_subscribers(3)
        campaign_id = add_campaign()
    with lock_held(smtp_app, SHORT_HOLD):
        run_job(smtp_app, "campaigns")
    with smtp_app.app_context():
        assert delivery_counts(campaign_id) == {"sent": 3}
    assert_no_job_failed(caplog)


def test_the_purges_run_while_another_process_writes(app, caplog):
    subscribe(app.test_client(), "stale@example.org")
    with app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        db.session.execute(update(Subscriber).values(requested_at=long_ago))
        db.session.add(ContactMessage(name="Alt", email="alt@example.org", message="Hallo",
                                      created_at=long_ago))
        db.session.commit()
    with lock_held(app, SHORT_HOLD):
        run_job(app, "purge-unconfirmed")
    with lock_held(app, SHORT_HOLD):
        run_job(app, "purge-contact")
    assert stored_emails(app) == []
    with app.app_context():
        assert db.session.scalar(select(ContactMessage.id)) is None
    assert_no_job_failed(caplog)


def test_a_command_line_import_waits_for_another_writer_and_succeeds(app, runner, tmp_path):
    upload = tmp_path / "liste.csv"
    upload.write_text("email,name,topics,status,confirmed_at,consent_source\n"
                      "anna@example.org,Anna,bildung,confirmed,2024-05-17T09:30:00+02:00,"
                      "Messe 2024\n", encoding="utf-8")
    with lock_held(app, SHORT_HOLD):
        result = runner.invoke(args=["subscribers", "import", str(upload)])
    assert result.exit_code == 0, result.output
    assert stored_emails(app) == ["anna@example.org"]


# --- a view that writes on GET says so ---------------------------------------------

def counting_app(make_app) -> Flask:
    """An app with two GET views that read and then write: one marked @writes."""
    app = make_app()

    def hide_first_topic() -> str:
        topic = db.session.scalars(select(Topic).order_by(Topic.id)).first()
        topic.hidden = not topic.hidden
        db.session.commit()
        return "ok"

    app.add_url_rule("/marked", "marked", writes(hide_first_topic))
    app.add_url_rule("/unmarked", "unmarked", lambda: hide_first_topic())
    return app


def test_a_get_view_marked_as_writing_takes_the_lock_up_front(make_app):
    app = counting_app(make_app)
    with lock_held(app, SHORT_HOLD), warnings.catch_warnings():
        warnings.simplefilter("error", ReadOnlyWrite)
        assert app.test_client().get("/marked").text == "ok"


def test_a_get_view_that_writes_unmarked_is_reported(make_app):
    app = counting_app(make_app)
    with pytest.warns(ReadOnlyWrite, match="UPDATE topics"):
        app.test_client().get("/unmarked")


# --- helpers -------------------------------------------------------------------------

def add_people(app, count: int) -> None:
    with app.app_context():
        add_subscribers(count)


def stored_emails(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Subscriber.email).where(
            Subscriber.status != SubscriberStatus.UNSUBSCRIBED).order_by(Subscriber.id)))


def run_job(app, job_id: str) -> None:
    """One run of a scheduler job, as the worker runs it (its own app context)."""
    func = next(func for name, func, _seconds in job_table(app) if name == job_id)
    _in_app_context(app, func)()


def assert_no_job_failed(caplog) -> None:
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
