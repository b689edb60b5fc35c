"""The transactional outbox: no transaction open while SMTP talks; after a crash, only the
mails sent but not yet recorded go out again."""

import threading

import pytest
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.mail.transport import SmtpConnection
from owlmail.outbox.models import OutboxMail, OutboxStatus
from owlmail.outbox.services import RECORD_EVERY
from owlmail.subscriptions.models import Subscriber
from tests.conftest import FormClient
from tests.support.db import count, deliver, make_due_now

FORM = {"name": "Anna Müller", "topics": ["bildung"], "consent": "y"}


def subscribe(client, email: str):
    return FormClient(client).submit("/", {**FORM, "email": email}, action="/subscribe")


def statuses(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMail.status).order_by(OutboxMail.id)))


def test_a_sign_up_while_the_worker_talks_to_the_mail_server_is_not_held_up(
        smtp_app, smtp, monkeypatch):
    """On SQLite a transaction left open during sending would hold the only write lock, and
    this sign-up would wait for the whole batch (or fail with "database is locked")."""
    subscribe(smtp_app.test_client(), "first@example.org")
    answers = []
    real_send = SmtpConnection.send

    def send_and_meanwhile_sign_up(transport, *args):
        if not answers:  # a visitor of the web process, in its own thread and session
            visitor = threading.Thread(target=lambda: answers.append(
                subscribe(smtp_app.test_client(), "meanwhile@example.org")))
            visitor.start()
            visitor.join(timeout=30)
        real_send(transport, *args)

    monkeypatch.setattr(SmtpConnection, "send", send_and_meanwhile_sign_up)
    deliver(smtp_app)

    assert [answer.status_code for answer in answers] == [200]
    assert count(smtp_app, Subscriber) == 2
    assert len(smtp.messages_to("first@example.org")) == 1
    deliver(smtp_app)  # the next round takes the mail queued meanwhile
    assert len(smtp.messages_to("meanwhile@example.org")) == 1


class WorkerKilled(BaseException):
    """Stands for the worker process dying (kill -9) in the middle of a batch."""


def test_a_worker_that_dies_mid_batch_repeats_only_the_mails_not_yet_recorded(
        smtp_app, smtp, monkeypatch):
    """Outcomes are committed every RECORD_EVERY mails: a kill -9 after mail 12 of a batch
    leaves the first ten recorded as sent; only mail 11 goes out a second time."""
    client = smtp_app.test_client()
    total = RECORD_EVERY + 2
    for n in range(total):
        subscribe(client, f"p{n}@example.org")
    real_send, calls = SmtpConnection.send, []

    def dies_at_the_last_mail(transport, *args):
        calls.append(args)
        if len(calls) == total:
            raise WorkerKilled
        real_send(transport, *args)

    monkeypatch.setattr(SmtpConnection, "send", dies_at_the_last_mail)
    with pytest.raises(WorkerKilled):
        deliver(smtp_app)
    assert statuses(smtp_app) == ["sent"] * RECORD_EVERY + ["queued"] * 2
    assert deliver(smtp_app) == 0  # the other two are leased to the dead worker for a while

    monkeypatch.setattr(SmtpConnection, "send", real_send)
    make_due_now(smtp_app)  # its lease has run out
    assert deliver(smtp_app) == 2
    delivered = [rcpt for mail in smtp.received for rcpt in mail.recipients]
    assert sorted(set(delivered)) == sorted(f"p{n}@example.org" for n in range(total))
    assert len(delivered) == total + 1
    assert delivered.count(f"p{RECORD_EVERY}@example.org") == 2  # sent, not yet recorded


def test_an_error_mid_batch_keeps_what_was_sent_recorded(smtp_app, smtp, monkeypatch):
    client = smtp_app.test_client()
    for n in range(3):
        subscribe(client, f"e{n}@example.org")
    real_send, calls = SmtpConnection.send, []

    def fails_at_the_third_mail(transport, *args):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("a bug in the middle of a batch")
        real_send(transport, *args)

    monkeypatch.setattr(SmtpConnection, "send", fails_at_the_third_mail)
    with pytest.raises(RuntimeError):
        deliver(smtp_app)
    assert statuses(smtp_app) == ["sent", "sent", "queued"]


def test_mails_left_over_near_the_end_of_the_lease_are_handed_back(make_app, smtp,
                                                                    monkeypatch):
    """A server so slow that the batch outlasts its lease: the rest is not kept leased
    (it would wait for nothing) nor sent on (another worker may take it by then)."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_LEASE_SECONDS=0)
    client = app.test_client()
    for n in range(2):
        subscribe(client, f"slow{n}@example.org")

    assert deliver(app) == 0
    with app.app_context():
        rows = db.session.scalars(select(OutboxMail)).all()
        assert [row.status for row in rows] == [OutboxStatus.QUEUED] * 2
        assert all(row.attempts == 0 for row in rows)
    app.config["SEND_LEASE_SECONDS"] = 120
    assert deliver(app) == 2
