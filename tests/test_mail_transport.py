"""The one SMTP transport against relays as production has them: STARTTLS with a private
CA, AUTH only inside TLS, SMTPS, a relay that hangs; and campaigns through the same relay."""

import logging
import time

import pytest
from sqlalchemy import select

from owlmail.campaigns.models import CampaignStatus
from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from owlmail.mail.transport import ConnectionLost, SmtpConnection
from owlmail.outbox.models import OutboxMail, OutboxStatus
from tests.conftest import FormClient
from tests.support.campaigns import add_campaign, add_subscribers, campaign_state
from tests.support.db import deliver, make_due_now
from tests.support.smtp import SilentServer, SmtpServer
from tests.support.tls import PrivateCA

LOGIN = {"owlmail": "relay-passwort"}
FORM = {"name": "Anna Müller", "topics": ["bildung"], "consent": "y"}


@pytest.fixture
def ca(tmp_path):
    return PrivateCA(tmp_path)


@pytest.fixture
def trusted(ca, monkeypatch):
    """SSL_CERT_FILE names the test CA (set explicitly: the shell may set its own)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    return ca


@pytest.fixture
def untrusted(monkeypatch, tmp_path):
    """SSL_CERT_FILE names an empty bundle: no certificate is trusted, the system's neither."""
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))


@pytest.fixture
def relay(ca):
    """A relay that demands STARTTLS and AUTH, with a certificate from the test CA."""
    server = SmtpServer(tls_context=ca.server_context(), auth=LOGIN).start()
    yield server
    server.stop()


def relay_settings(server, **more) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port, "MAIL_USE_TLS": True,
            "MAIL_USERNAME": "owlmail", "MAIL_PASSWORD": LOGIN["owlmail"], "MAIL_TIMEOUT": 5,
            **more}


def subscribe(app, email: str = "anna@example.org") -> None:
    FormClient(app.test_client()).submit("/", {**FORM, "email": email}, action="/subscribe")


def outbox_statuses(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMail.status).order_by(OutboxMail.id)))


def test_a_confirmation_goes_through_a_relay_demanding_starttls_and_auth(
        make_app, relay, trusted):
    app = make_app(**relay_settings(relay))
    subscribe(app)
    assert deliver(app) == 1
    assert len(relay.messages_to("anna@example.org")) == 1
    assert relay.auth_attempts == [("owlmail", True)]  # logged in, and only inside TLS


def test_an_untrusted_certificate_is_logged_and_the_mail_waits_until_it_is_trusted(
        make_app, relay, ca, untrusted, monkeypatch, caplog):
    app = make_app(**relay_settings(relay))
    subscribe(app)
    with caplog.at_level(logging.ERROR, logger="owlmail.mail.transport"):
        assert deliver(app) == 0
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert relay.received == [] and relay.auth_attempts == []  # the password stayed home
    assert outbox_statuses(app) == ["queued"]

    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))  # the operator trusts the CA
    make_due_now(app)
    assert deliver(app) == 1
    assert len(relay.messages_to("anna@example.org")) == 1


def test_a_certificate_for_another_host_name_is_refused(make_app, ca, trusted, caplog):
    """Issued by a trusted CA, but for another name: the host name is checked too."""
    other = SmtpServer(tls_context=ca.server_context("relay.example.net"), auth=LOGIN).start()
    try:
        app = make_app(**relay_settings(other))
        subscribe(app)
        with caplog.at_level(logging.ERROR, logger="owlmail.mail.transport"):
            assert deliver(app) == 0
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and "127.0.0.1" in caplog.text
        assert other.received == [] and other.auth_attempts == []
        assert outbox_statuses(app) == ["queued"]
    finally:
        other.stop()


def test_the_password_is_never_sent_without_tls(make_app, caplog):
    """Even a relay that offers AUTH in plain text never sees it: the mail waits instead."""
    careless = SmtpServer(auth=LOGIN, auth_over_plain_text=True).start()
    try:
        app = make_app(**relay_settings(careless, MAIL_USE_TLS=False))
        subscribe(app)
        with caplog.at_level(logging.ERROR, logger="owlmail.mail.transport"):
            assert deliver(app) == 0
        assert careless.auth_attempts == []
        assert "MAIL_USE_TLS" in caplog.text
        assert outbox_statuses(app) == ["queued"]
    finally:
        careless.stop()


def test_smtps_delivers_with_a_verified_certificate(make_app, ca, trusted):
    smtps = SmtpServer(tls_context=ca.server_context(), implicit_tls=True, auth=LOGIN).start()
    try:
        app = make_app(**relay_settings(smtps, MAIL_USE_TLS=False, MAIL_USE_SSL=True))
        subscribe(app)
        assert deliver(app) == 1
        assert len(smtps.messages_to("anna@example.org")) == 1
        assert smtps.auth_attempts == [("owlmail", True)]
    finally:
        smtps.stop()


def test_smtps_with_an_untrusted_certificate_sends_nothing(make_app, ca, untrusted):
    smtps = SmtpServer(tls_context=ca.server_context(), implicit_tls=True, auth=LOGIN).start()
    try:
        app = make_app(**relay_settings(smtps, MAIL_USE_TLS=False, MAIL_USE_SSL=True))
        subscribe(app)
        assert deliver(app) == 0
        assert smtps.received == [] and smtps.auth_attempts == []
    finally:
        smtps.stop()


def test_a_relay_that_never_answers_is_given_up_after_mail_timeout_and_the_mail_waits(
        make_app):
    silent = SilentServer()
    try:
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.port, MAIL_TIMEOUT=1)
        subscribe(app)
        started = time.monotonic()
        assert deliver(app) == 0
        assert time.monotonic() - started < 10  # not the 30 s default, not forever
        assert outbox_statuses(app) == ["queued"]
        with app.app_context():
            error = db.session.scalar(select(OutboxMail.last_error))
        assert "timed out" in error
    finally:
        silent.stop()


def test_every_reply_is_bounded_by_mail_timeout_not_only_the_connect(app):
    """The greeting never comes: the wait ends after MAIL_TIMEOUT as ConnectionLost."""
    silent = SilentServer()
    try:
        connection = SmtpConnection({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": silent.port,
                                     "MAIL_USE_TLS": False, "MAIL_USE_SSL": False,
                                     "MAIL_USERNAME": None, "MAIL_PASSWORD": None,
                                     "MAIL_TIMEOUT": 0.5})
        started = time.monotonic()
        with pytest.raises(ConnectionLost):
            connection.open()
        assert time.monotonic() - started < 5
    finally:
        silent.stop()


def test_a_campaign_goes_through_the_same_starttls_and_auth_relay(make_app, relay, trusted):
    app = make_app(**relay_settings(relay), SEND_CONNECTIONS=2, SEND_RETRY_SECONDS=[0])
    with app.app_context():
        add_subscribers(6, topics=["it"])
        campaign_id = add_campaign(topics=["it"])
        assert run_due_campaigns() == 6
        assert campaign_state(campaign_id).status == CampaignStatus.SENT
    assert len(relay.received) == 6
    assert {inside_tls for _, inside_tls in relay.auth_attempts} == {True}


def test_a_campaign_waits_while_the_relay_certificate_is_untrusted(make_app, relay, untrusted):
    app = make_app(**relay_settings(relay), SEND_CONNECTIONS=1)
    with app.app_context():
        add_subscribers(2, topics=["it"])
        campaign_id = add_campaign(topics=["it"])
        assert run_due_campaigns() == 0
        state = campaign_state(campaign_id)
    assert relay.received == [] and relay.auth_attempts == []
    assert state.status != CampaignStatus.SENT and state.failed_count == 0  # nothing lost


def test_sent_outbox_mail_keeps_no_bytes_address_or_subject(smtp_app, smtp):
    subscribe(smtp_app)
    assert deliver(smtp_app) == 1
    with smtp_app.app_context():
        mail = db.session.scalar(select(OutboxMail))
        assert mail.status == OutboxStatus.SENT and mail.sent_at is not None
        assert (mail.message, mail.recipients, mail.subject) == (None, "", "")
        assert mail.kind == "confirm" and len(mail.recipient_hash) == 64
        assert b"anna@example.org" not in repr(mail.__dict__).encode()
