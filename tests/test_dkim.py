"""Every mail that leaves owlmail carries a DKIM signature that an independent verifier
(dkimpy, given the published key) accepts, and that breaks when a signed header changes."""

import re
import stat

import dkim
import pytest
from dkim.canonicalization import Relaxed

from owlmail.delivery.engine import run_due_campaigns
from owlmail.mail.dkim import (
    DkimSigner,
    dns_record,
    generate_key,
    relaxed_body,
    relaxed_header,
    split_message,
)
from tests.conftest import FormClient
from tests.support.campaigns import add_campaign, add_subscribers
from tests.support.db import deliver
from tests.support.dkim import published, verifies
from tests.test_api import Api, create, make_token

# What RFC 8058 §4 and the issue ask the signature to cover, for a newsletter mail.
CAMPAIGN_HEADERS = {"from", "to", "subject", "date", "message-id", "list-id",
                    "list-unsubscribe", "list-unsubscribe-post"}


def signed_headers(raw: bytes) -> set[str]:
    """The header names in the h= tag of a mail's DKIM signature."""
    field = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").decode()
    return set(re.search(r"\bh=([^;]+);", field).group(1).replace(" ", "").split(":"))


def test_a_confirmation_mail_is_signed_for_the_sender_domain(smtp_app, smtp):
    FormClient(smtp_app.test_client()).submit(
        "/", {"email": "anna@example.org", "topics": ["it"], "consent": "y"},
        action="/subscribe")
    deliver(smtp_app)
    [received] = smtp.received
    assert verifies(received.data)
    assert b"d=owl-morgen.de; s=test2026;" in received.data
    assert {"from", "to", "subject", "date", "message-id"} <= signed_headers(received.data)


def test_a_contact_mail_is_signed(smtp_app, smtp):
    FormClient(smtp_app.test_client()).submit("/contact", {
        "name": "Jana", "email": "jana@example.org", "message": "Eine Idee", "consent": "y"})
    deliver(smtp_app)
    [received] = smtp.received
    assert verifies(received.data)
    assert "reply-to" in signed_headers(received.data)


def test_a_test_send_is_signed(smtp_app, smtp):
    api = Api(smtp_app.test_client(), make_token(smtp_app))
    campaign_id = create(api, subject="Digitalgipfel")["id"]
    api.post(f"/campaigns/{campaign_id}/test", json={"emails": ["redaktion@example.org"]})
    deliver(smtp_app)
    [received] = smtp.received
    assert verifies(received.data)
    assert signed_headers(received.data) >= CAMPAIGN_HEADERS


def test_every_campaign_mail_is_signed_over_its_list_headers(smtp_app, smtp):
    with smtp_app.app_context():
        add_subscribers(5, topics=["it"])
        add_campaign(topics=["it"])
        assert run_due_campaigns() == 5
    assert len(smtp.received) == 5 and smtp.handler.unsigned == 0
    for received in smtp.received:
        assert verifies(received.data)
        assert signed_headers(received.data) >= CAMPAIGN_HEADERS


@pytest.mark.parametrize("change", [
    (b"Subject: ", b"Subject: Re: "),
    (b"List-Unsubscribe: <", b"List-Unsubscribe: <https://evil.example/?"),
    (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
     b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nList-Unsubscribe-Post: x"),
    (b"From: ", b"From: Mallory <m@evil.example>, "),
    (b"Message-ID: <", b"Message-ID: <x"),
])
def test_a_header_changed_after_signing_fails_verification(smtp_app, smtp, change):
    with smtp_app.app_context():
        add_subscribers(1, topics=["it"])
        add_campaign(topics=["it"])
        run_due_campaigns()
    [received] = smtp.received
    old, new = change
    assert old in received.data
    assert verifies(received.data)
    assert not verifies(received.data.replace(old, new, 1))


def test_a_changed_body_fails_verification(smtp_app, smtp):
    with smtp_app.app_context():
        add_subscribers(1, topics=["it"])
        add_campaign(topics=["it"], body="Hallo, hier ist der Link zur Anmeldung.")
        run_due_campaigns()
    [received] = smtp.received
    assert not verifies(received.data.replace(b"Anmeldung", b"Abmeldung", 1))


def test_without_dkim_settings_mail_goes_out_unsigned(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, DKIM_DOMAIN=None)
    with app.app_context():
        add_subscribers(2, topics=["it"])
        add_campaign(topics=["it"])
        run_due_campaigns()
    assert len(smtp.received) == 2 and smtp.handler.unsigned == 2


def test_an_ed25519_key_signs_too(make_app, smtp, tmp_path):
    key = generate_key("ed25519")
    signer = DkimSigner("owl-morgen.de", "ed2026", key)
    name, value = dns_record(key, "ed2026", "owl-morgen.de")
    raw = (b"From: a@owl-morgen.de\r\nTo: b@example.org\r\nSubject: Hallo\r\n"
           b"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n\r\nHallo  Welt\r\n")
    signed = signer.sign(raw)
    assert b"a=ed25519-sha256" in signed and "k=ed25519" in value
    assert dkim.verify(signed, dnsfunc=published({name: value}))
    assert not dkim.verify(signed.replace(b"Welt", b"Wald"), dnsfunc=published({name: value}))


# Bodies as SMTP carries them (DATA always ends a mail with CRLF).
BODIES = [b"", b"x\r\n", b"Hallo  \t Welt   \r\n\r\n\r\n", b"\t\r\n", b"a\r\n\r\nb  \r\n",
          b" f\xc3\xbchrend  \r\n=3D\r\n", b"\r\n\r\n"]


@pytest.mark.parametrize("body", BODIES)
def test_the_body_is_canonicalised_as_dkimpy_does(body):
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_headers_are_canonicalised_as_dkimpy_does():
    raw = (b"Subject:  Hallo \t Welt\r\n  und\tmehr  \r\nTO : =?utf-8?q?J=C3=BCrgen?= <j@x.de>"
           b"\r\nX-Leer:\r\n\r\n")
    fields, _ = split_message(raw)
    pairs = [tuple(field.split(b":", 1)) for field in fields]
    theirs = [name + b":" + value for name, value in
              Relaxed.canonicalize_headers([(n, v + b"\r\n") for n, v in pairs])]
    assert [relaxed_header(field) for field in fields] == theirs


def test_dkim_generate_writes_a_private_key_and_prints_the_record(app, runner, tmp_path):
    key_file = tmp_path / "owl.pem"
    result = runner.invoke(args=["dkim", "generate", "--selector", "owl2026",
                                 "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    record = re.search(r"^(\S+)\. IN TXT (.+)$", result.output, re.M)
    assert record.group(1) == "owl2026._domainkey.owl-morgen.de"
    value = "".join(re.findall(r'"([^"]*)"', record.group(2)))
    assert value.startswith("v=DKIM1; k=rsa; p=")
    signer = DkimSigner.from_config({"DKIM_DOMAIN": "owl-morgen.de", "DKIM_SELECTOR": "owl2026",
                                     "DKIM_PRIVATE_KEY_FILE": str(key_file)})
    assert signer.key.key_size == 2048
    raw = signer.sign(b"From: a@owl-morgen.de\r\nSubject: x\r\n\r\nHallo\r\n")
    assert dkim.verify(raw, dnsfunc=published({record.group(1): value}))
    again = runner.invoke(args=["dkim", "generate", "--selector", "owl2026",
                                "--out", str(key_file)])
    assert again.exit_code != 0 and "exists already" in again.output


def test_campaign_mails_carry_a_feedback_id_per_campaign_and_optionally_the_csa_header(
        make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, CSA_COMPLAINTS=True)
    with app.app_context():
        add_subscribers(1, topics=["it"])
        campaign_id = add_campaign(topics=["it"])
        run_due_campaigns()
    [received] = smtp.received
    assert received.message["Feedback-ID"] == f"{campaign_id}:newsletter:owlmail"
    assert received.message["X-CSA-Complaints"] == "csa-complaints@eco.de"
    assert "feedback-id" in signed_headers(received.data)


def test_without_csa_membership_there_is_no_csa_header(smtp_app, smtp):
    with smtp_app.app_context():
        add_subscribers(1, topics=["it"])
        add_campaign(topics=["it"])
        run_due_campaigns()
    assert smtp.received[0].message["X-CSA-Complaints"] is None
