"""Sending campaigns: every wanted recipient exactly once, in a well-formed mail."""

import re
from collections import Counter
from datetime import timedelta
from email.utils import parseaddr

import pytest

from owlmail.campaigns.models import CampaignStatus
from owlmail.campaigns.rendering import PersonalFields, compile_campaign
from owlmail.delivery.engine import run_due_campaigns
from owlmail.delivery.message import build_campaign_message
from owlmail.delivery.models import Delivery
from owlmail.delivery.verp import parse_verp, verp_address
from owlmail.extensions import db
from owlmail.subscriptions.models import Subscriber, SubscriberStatus
from owlmail.subscriptions.services import subscriber_for_link
from owlmail.timeutil import utcnow
from owlmail.tokens import Purpose
from tests.support.campaigns import add_campaign, add_subscribers, campaign_state, delivery_counts


@pytest.fixture
def sender_app(make_app, smtp):
    """An app whose campaign sender talks to the loopback SMTP server."""
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_CONNECTIONS=2,
                    SEND_BATCH_SIZE=7, SEND_RETRY_SECONDS=[0])


def recipients(smtp) -> Counter:
    return Counter(rcpt for received in smtp.received for rcpt in received.recipients)


def test_due_campaign_reaches_every_confirmed_subscriber_of_its_topics_once(sender_app, smtp):
    with sender_app.app_context():
        add_subscribers(20, topics=["innovation"], prefix="inno")
        add_subscribers(5, topics=["bildung", "innovation"], prefix="beides")
        add_subscribers(4, topics=["bildung"], prefix="bildung")
        add_subscribers(3, topics=["innovation"], prefix="offen", status=SubscriberStatus.PENDING)
        add_subscribers(2, topics=["innovation"], prefix="weg",
                        status=SubscriberStatus.UNSUBSCRIBED)
        campaign_id = add_campaign(topics=["innovation"])

        assert run_due_campaigns() == 25

        got = recipients(smtp)
        assert sorted(got) == sorted([f"inno{i}@example.org" for i in range(20)]
                                     + [f"beides{i}@example.org" for i in range(5)])
        assert set(got.values()) == {1}
        state = campaign_state(campaign_id)
        assert state.status == CampaignStatus.SENT
        assert (state.recipients_count, state.sent_count, state.failed_count) == (25, 25, 0)
        assert state.started_at and state.finished_at
        assert delivery_counts(campaign_id) == {"sent": 25}


def test_campaign_without_topics_goes_to_every_confirmed_subscriber(sender_app, smtp):
    with sender_app.app_context():
        add_subscribers(3, topics=["it"], prefix="it")
        add_subscribers(2, topics=[], prefix="ohne")
        add_subscribers(2, prefix="offen", status=SubscriberStatus.PENDING)
        add_campaign(topics=[])
        run_due_campaigns()
        assert len(recipients(smtp)) == 5


def test_a_campaign_due_later_waits(sender_app, smtp):
    with sender_app.app_context():
        add_subscribers(3)
        campaign_id = add_campaign(send_at=utcnow() + timedelta(minutes=5))
        assert run_due_campaigns() == 0
        assert smtp.received == []
        assert campaign_state(campaign_id).status == CampaignStatus.SCHEDULED


def test_running_again_sends_nothing_twice(sender_app, smtp):
    with sender_app.app_context():
        add_subscribers(10)
        add_campaign()
        run_due_campaigns()
        run_due_campaigns()
        assert sum(recipients(smtp).values()) == 10


def test_mail_has_list_headers_and_both_parts(sender_app, smtp):
    with sender_app.app_context():
        [subscriber_id] = add_subscribers(1, name="Jörg Müller-Lüdenscheidt")
        add_campaign(subject="Digitalgipfel OWL: Programm für Köln & Bielefeld " + "ä" * 80)
        run_due_campaigns()
        received = smtp.received[0]
        message = received.message
        link = message["List-Unsubscribe"].strip("<>")
        token = link.removeprefix("http://owlmail.test/unsubscribe/")
        assert subscriber_for_link(Purpose.UNSUBSCRIBE, token).id == subscriber_id

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html"]
    assert message["Subject"].startswith("Digitalgipfel OWL: Programm für Köln & Bielefeld")
    assert message["To"] == "Jörg Müller-Lüdenscheidt <leser0@example.org>"
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"]
    assert message["Date"] and re.match(r"<1\.\d+\.[0-9a-f]+@owl-morgen\.de>",
                                        message["Message-ID"])
    text = message.get_body(("plain",)).get_content()
    assert "Jörg Müller-Lüdenscheidt" in text
    assert link in text
    assert "http://owlmail.test/preferences/" in text
    raw = received.data
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.isascii()


def test_every_mail_has_its_own_message_id_and_verp_sender(sender_app, smtp):
    with sender_app.app_context():
        add_subscribers(5)
        campaign_id = add_campaign()
        run_due_campaigns()
        ids = {r.message["Message-ID"] for r in smtp.received}
        assert len(ids) == 5
        deliveries = {d.id: d.subscriber_id for d in
                      db.session.query(Delivery).filter_by(campaign_id=campaign_id)}
        emails = {s.id: s.email for s in db.session.query(Subscriber)}
        for received in smtp.received:
            delivery_id = parse_verp(received.envelope_from)
            assert received.envelope_from.endswith("@owl-morgen.de")
            assert emails[deliveries[delivery_id]] == received.recipients[0]


def test_fast_link_tokens_are_the_ones_subscriptions_sign(app):
    from owlmail.tokens import LinkSigner, sign

    with app.app_context():
        fast = LinkSigner(Purpose.UNSUBSCRIBE)
        payload = [4711, "k-Zz_09abcdefgh"]
        for _ in range(3):  # both within the same second (the token carries it)
            if fast.dumps(payload) == sign(Purpose.UNSUBSCRIBE, payload):
                break
        else:
            raise AssertionError("the tokens differ")
        assert fast.dumps(payload) != LinkSigner(Purpose.PREFERENCES).dumps(payload)


def test_verp_address_is_signed_and_uses_the_bounce_domain(make_app):
    app = make_app(BOUNCE_DOMAIN="bounces.owl-morgen.de")
    with app.app_context():
        address = verp_address(4711)
        assert re.fullmatch(r"bounce\+4711-[0-9a-f]{12}@bounces\.owl-morgen\.de", address)
        assert parse_verp(address) == 4711
        assert parse_verp(address.upper()) == 4711  # servers may fold the case
        assert parse_verp(address.replace("4711", "4712")) is None
        assert parse_verp("bounce+4711-000000000000@bounces.owl-morgen.de") is None
        assert parse_verp("jemand@example.org") is None


def test_message_builder_keeps_lines_short_and_encodes_headers(app):
    with app.app_context():
        from owlmail.campaigns.models import Campaign

        campaign = Campaign(id=9, subject="Grüße\r\nBcc: evil@example.org", body="x" * 5000,
                            preheader="", template="standard", topics=[])
        compiled = compile_campaign(campaign)
        fields = PersonalFields("Änne", "a@example.org", "http://owlmail.test/unsubscribe/t",
                                "http://owlmail.test/preferences/t")
        raw = build_campaign_message(compiled, fields, to="Änne <a@bücher.example>", test=True)
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"].startswith("[TEST] Grüße")
    assert message["Bcc"] is None
    assert parseaddr(message["To"])[1] == "a@xn--bcher-kva.example"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert "x" * 5000 in message.get_body(("plain",)).get_content().replace("\n", "")


def test_lines_starting_with_a_dot_arrive_unchanged(sender_app, smtp):
    from owlmail.mail.transport import SmtpConnection

    raw = (b"From: a@owl-morgen.de\r\nTo: b@example.org\r\nSubject: Punkte\r\n\r\n"
           b"erste Zeile\r\n.\r\n.zweite\r\n..dritte\r\nEnde")
    with sender_app.app_context():
        connection = SmtpConnection.from_config()
        waited = []
        connection.send("a@owl-morgen.de", ["b@example.org"], raw, "1",
                        lambda: waited.append(len(smtp.received)))
        connection.close()
    assert waited == [0]  # the server had not taken it before the commit hook ran
    # After the DKIM signature the server saw the very bytes given (no dot lost or added).
    assert smtp.received[0].data.replace(b"\r\n", b"\n").rstrip(b"\n").endswith(
        b"\n" + raw.replace(b"\r\n", b"\n"))
