"""Stored transactional mail outlives no promise: bytes gone once sent, failed ones purged,
and an erasure removes every mail to or about a person."""

from datetime import timedelta

from sqlalchemy import select, update

from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail, OutboxStatus
from owlmail.outbox.services import forget_person, purge_failed_mail
from owlmail.timeutil import utcnow
from tests.conftest import FormClient
from tests.support.db import deliver

SIGN_UP = {"name": "Anna Müller", "topics": ["bildung"], "consent": "y"}
CONTACT = {"name": "Anna Müller", "topic": "bildung", "consent": "y",
           "message": "Wie wäre ein Makerspace in jeder Schule?"}


def subscribe(client, email: str):
    return FormClient(client).submit("/", {**SIGN_UP, "email": email}, action="/subscribe")


def write_to_the_team(client, email: str):
    return FormClient(client).submit("/contact", {**CONTACT, "email": email})


def stored(app) -> list[OutboxMail]:
    with app.app_context():
        mails = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
        db.session.expunge_all()
        return mails


def test_forget_person_removes_the_mails_to_and_about_that_person_only(smtp_app, smtp):
    client = smtp_app.test_client()
    subscribe(client, "anna@example.org")
    write_to_the_team(client, "anna@example.org")  # to the team, about Anna
    subscribe(client, "bert@example.org")
    deliver(smtp_app)  # sent ones are removed as well
    subscribe(client, "Anna@Example.org")  # a second confirmation, still queued
    assert [mail.kind for mail in stored(smtp_app)] == ["confirm", "contact", "confirm",
                                                        "confirm"]

    with smtp_app.app_context():
        assert forget_person("ANNA@example.org") == 3
        db.session.commit()
    assert [mail.kind for mail in stored(smtp_app)] == ["confirm"]
    assert stored(smtp_app)[0].status == OutboxStatus.SENT  # Bert's


def test_a_contact_mail_is_stored_about_its_writer_until_it_is_sent(smtp_app, smtp):
    write_to_the_team(smtp_app.test_client(), "jana@example.org")
    [queued] = stored(smtp_app)
    assert queued.recipients == "info@owl-morgen.de" and b"jana@example.org" in queued.message
    deliver(smtp_app)
    [sent] = stored(smtp_app)
    assert (sent.message, sent.recipients, sent.subject) == (None, "", "")
    assert sent.about_hash == queued.about_hash != sent.recipient_hash


def test_failed_mails_keep_their_content_a_week_then_the_purge_drops_it(smtp_app, smtp):
    smtp.handler.refuse["old@example.org"] = "550 5.1.1 no such user"
    smtp.handler.refuse["new@example.org"] = "550 5.1.1 no such user"
    client = smtp_app.test_client()
    subscribe(client, "old@example.org")
    subscribe(client, "new@example.org")
    deliver(smtp_app)
    with smtp_app.app_context():
        db.session.execute(update(OutboxMail).where(OutboxMail.recipients == "old@example.org")
                           .values(next_attempt_at=utcnow() - timedelta(days=8)))
        db.session.commit()
        assert purge_failed_mail() == 1
    old, new = stored(smtp_app)
    assert old.status == new.status == OutboxStatus.FAILED
    assert (old.message, old.recipients, old.subject) == (None, "", "")
    assert new.recipients == "new@example.org" and new.message  # a week to look at it
    assert old.last_error.startswith("550")
