"""Bounces and complaints that come back after the relay accepted a campaign mail.

A real campaign goes out through the loopback SMTP server; the bounce is written the
way a mail server writes one to the VERP envelope sender of the mail that arrived, and
piped into `flask --app owlmail bounce <recipient>` as Postfix's pipe transport does.
"""

import pytest
from sqlalchemy import select

from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus, Suppression
from owlmail.subscriptions.services import is_suppressed
from tests.support.campaigns import add_campaign, add_subscribers

DSN = """\
Return-Path: <>
Date: Mon, 30 Nov 2026 09:14:02 +0100 (CET)
From: MAILER-DAEMON@relay.owl-morgen.de (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B0UND"
Message-Id: <20261130081402.1@relay.owl-morgen.de>

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.owl-morgen.de.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.owl-morgen.de
X-Postfix-Queue-ID: 4F1A2B3C
Arrival-Date: Mon, 30 Nov 2026 09:13:58 +0100 (CET)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; {diagnostic}

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: OWL morgen <newsletter@owl-morgen.de>
To: {rcpt}
Subject: Neues aus OWL

--B0UND--
"""

ARF = """\
From: feedback@provider.example
To: {verp}
Subject: FW: Neues aus OWL
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.25.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: <{rcpt}>

--ARF
Content-Type: text/rfc822-headers

From: OWL morgen <newsletter@owl-morgen.de>
To: {rcpt}
Subject: Neues aus OWL

--ARF--
"""


@pytest.fixture
def sent(make_app, smtp):
    """Three subscribers got a campaign: (app, {address: VERP envelope sender})."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    with app.app_context():
        add_subscribers(3, prefix="leser")
        add_campaign()
        assert run_due_campaigns() == 3
    return app, {r.recipients[0]: r.envelope_from for r in smtp.received}


def pipe(app, text: str, *args: str):
    """What the mail server does: the mail on stdin, the envelope recipient as argument."""
    result = app.test_cli_runner().invoke(
        args=["bounce", *args], input=text.replace("\n", "\r\n").encode())
    return result


def person(app, address: str) -> Subscriber:
    with app.app_context():
        found = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
        db.session.expunge_all()
        return found


def actions(app, address: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(ConsentEvent.action).join(Subscriber).where(
            Subscriber.email == address).order_by(ConsentEvent.id)))


def dsn(verp: str, rcpt: str, *, action="failed", status="5.1.1",
        diagnostic="550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown") -> str:
    return DSN.format(verp=verp, rcpt=rcpt, action=action, status=status,
                      diagnostic=diagnostic.format(rcpt=rcpt))


def test_a_permanent_bounce_marks_the_subscriber_bounced_and_suppresses_the_address(sent):
    app, verps = sent
    rcpt = "leser1@example.org"
    result = pipe(app, dsn(verps[rcpt], rcpt), verps[rcpt])
    assert result.exit_code == 0, result.output
    assert "bounced" in result.stderr
    assert person(app, rcpt).status == SubscriberStatus.BOUNCED
    assert actions(app, rcpt) == ["bounced"]
    with app.app_context():
        assert is_suppressed(rcpt)
        event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.action == "bounced"))
        assert "5.1.1" in event.detail and event.source_url == "bounce"
    # the other two are untouched, and a repeated bounce changes nothing more
    assert person(app, "leser0@example.org").status == SubscriberStatus.CONFIRMED
    assert pipe(app, dsn(verps[rcpt], rcpt), verps[rcpt]).exit_code == 0
    assert actions(app, rcpt) == ["bounced"]


def test_without_an_argument_the_to_header_names_the_delivery(sent):
    app, verps = sent
    rcpt = "leser2@example.org"
    assert pipe(app, dsn(verps[rcpt], rcpt)).exit_code == 0
    assert person(app, rcpt).status == SubscriberStatus.BOUNCED


def test_a_temporary_failure_changes_nothing(sent):
    app, verps = sent
    rcpt = "leser0@example.org"
    result = pipe(app, dsn(verps[rcpt], rcpt, action="delayed", status="4.2.2",
                           diagnostic="452 4.2.2 Mailbox full"), verps[rcpt])
    assert result.exit_code == 0
    assert "temporary" in result.stderr
    assert person(app, rcpt).status == SubscriberStatus.CONFIRMED
    with app.app_context():
        assert not is_suppressed(rcpt)


def test_a_forged_or_foreign_bounce_removes_nobody(sent):
    app, verps = sent
    rcpt = "leser0@example.org"
    delivery_id, signature = verps[rcpt].split("@")[0].removeprefix("bounce+").split("-")
    forged = verps[rcpt].replace(f"+{delivery_id}-{signature}",
                                 f"+{delivery_id}-{'0' * len(signature)}")
    for address in (forged, "info@owl-morgen.de"):
        result = pipe(app, dsn(address, rcpt), address)
        assert result.exit_code == 0  # not ours: the mail server must not bounce it again
        assert "ignored" in result.stderr
    assert person(app, rcpt).status == SubscriberStatus.CONFIRMED
    with app.app_context():
        assert db.session.scalar(select(Suppression)) is None


def test_a_spam_complaint_unsubscribes_and_suppresses(sent):
    app, verps = sent
    rcpt = "leser2@example.org"
    result = pipe(app, ARF.format(verp=verps[rcpt], rcpt=rcpt), verps[rcpt])
    assert result.exit_code == 0 and "complaint" in result.stderr
    found = person(app, rcpt)
    assert found.status == SubscriberStatus.UNSUBSCRIBED and found.unsubscribed_at
    assert actions(app, rcpt) == ["unsubscribed"]
    with app.app_context():
        assert db.session.scalar(select(Suppression.reason)) == "complaint"


@pytest.mark.parametrize("junk", ["", "kein Mail\r\n\r\n\x00\xff", "Subject: Urlaub\n\nBin weg."])
def test_an_auto_reply_or_junk_is_ignored_without_an_error(sent, junk):
    app, verps = sent
    rcpt = "leser0@example.org"
    result = pipe(app, junk, verps[rcpt])
    assert result.exit_code == 0, result.output
    assert "ignored" in result.stderr
    assert person(app, rcpt).status == SubscriberStatus.CONFIRMED


def test_a_bounce_for_an_erased_subscriber_is_ignored(sent):
    from owlmail.erasure import erase_person

    app, verps = sent
    rcpt = "leser1@example.org"
    with app.app_context():
        erase_person(db.session.scalar(select(Subscriber).where(Subscriber.email == rcpt)))
        db.session.commit()
    result = pipe(app, dsn(verps[rcpt], rcpt), verps[rcpt])
    assert result.exit_code == 0 and "gone" in result.stderr


def test_when_the_database_cannot_be_written_the_mail_server_is_asked_to_retry(sent,
                                                                              monkeypatch):
    from sqlalchemy.exc import OperationalError

    app, verps = sent
    rcpt = "leser1@example.org"

    def locked():
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", locked)
        result = pipe(app, dsn(verps[rcpt], rcpt), verps[rcpt])
        monkeypatch.undo()
    assert result.exit_code == 75  # EX_TEMPFAIL: Postfix keeps the mail and tries again
    assert "try again" in result.stderr
    assert person(app, rcpt).status == SubscriberStatus.CONFIRMED  # rolled back
