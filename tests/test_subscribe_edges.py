"""The sign-up under stress: outages, bad links, hostile input, bots and limits."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.subscriptions import services
from owlmail.subscriptions.models import ConsentEvent, ConsentText, Subscriber, SubscriberStatus
from owlmail.subscriptions.services import purge_unconfirmed
from owlmail.timeutil import utcnow
from owlmail.tokens import Purpose, sign
from tests.conftest import FormClient
from tests.support.db import count, deliver, make_due_now
from tests.support.pages import hidden_fields, links_in

FORM = {"email": "anna@example.org", "name": "Anna Müller", "topics": ["bildung"],
        "consent": "y"}


def subscribe(client, **changes):
    return FormClient(client).submit("/", {**FORM, **changes}, action="/subscribe")


def the_subscriber(app, email="anna@example.org") -> Subscriber:
    with app.app_context():
        row = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        db.session.expunge_all()
        return row


def confirm_link(smtp, address="anna@example.org") -> str:
    [mail] = smtp.messages_to(address)
    return links_in(mail, "/confirm/")[0].removeprefix("http://owlmail.test")


# --- mail keeps flowing ----------------------------------------------------

def test_a_sign_up_during_an_smtp_outage_is_delivered_once_the_server_is_back(smtp_app, smtp):
    smtp.stop()
    assert subscribe(smtp_app.test_client()).status_code == 200
    deliver(smtp_app)
    with smtp_app.app_context():
        row = db.session.scalar(select(OutboxMail))
        assert row.status == "queued" and row.attempts == 1 and row.last_error

    smtp.start()
    make_due_now(smtp_app)
    assert deliver(smtp_app) == 1
    assert len(smtp.messages_to("anna@example.org")) == 1
    deliver(smtp_app)
    assert len(smtp.received) == 1  # sent once, not again


def test_a_temporary_refusal_is_retried_and_then_delivered(smtp_app, smtp):
    smtp.handler.rcpt_answers.append("451 4.7.1 try again later")
    subscribe(smtp_app.test_client())
    deliver(smtp_app)
    assert smtp.received == []
    make_due_now(smtp_app)
    deliver(smtp_app)
    assert len(smtp.messages_to("anna@example.org")) == 1


# --- links -----------------------------------------------------------------

def test_a_tampered_confirmation_link_is_refused_with_a_friendly_page(smtp_app, smtp):
    client = smtp_app.test_client()
    subscribe(client)
    deliver(smtp_app)
    link = confirm_link(smtp)
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    fields = hidden_fields(client.get("/").data)
    for page in (client.get(tampered), client.post(tampered, data=fields)):
        assert page.status_code == 400
        assert "Dieser Link ist ungültig" in page.text
    assert the_subscriber(smtp_app).status == SubscriberStatus.PENDING


def test_an_expired_confirmation_link_offers_a_fresh_one(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, CONFIRM_TOKEN_MAX_AGE=-1)
    client = app.test_client()
    subscribe(client)
    deliver(app)
    page = client.get(confirm_link(smtp))
    assert page.status_code == 410
    assert "abgelaufen" in page.text and "Neuen Link anfordern" in page.text
    assert the_subscriber(app).status == SubscriberStatus.PENDING


def test_a_replayed_confirmation_post_changes_nothing(smtp_app, smtp):
    client = smtp_app.test_client()
    subscribe(client)
    deliver(smtp_app)
    link = confirm_link(smtp)
    fields = hidden_fields(client.get(link).data)
    assert client.post(link, data=fields).status_code == 200
    replay = client.post(link, data=fields)
    assert replay.status_code == 410
    assert "bereits verwendet" in replay.text
    with smtp_app.app_context():
        actions = db.session.scalars(select(ConsentEvent.action)).all()
    assert actions.count("confirmed") == 1


def test_a_new_sign_up_replaces_the_older_confirmation_link(smtp_app, smtp):
    client = smtp_app.test_client()
    subscribe(client)
    deliver(smtp_app)
    first = confirm_link(smtp)
    subscribe(client)
    deliver(smtp_app)
    second = [links_in(m, "/confirm/")[0] for m in smtp.messages_to("anna@example.org")][1]
    assert client.get(first).status_code == 200  # still the same pending sign-up
    fields = hidden_fields(client.get(second.removeprefix("http://owlmail.test")).data)
    assert client.post(second.removeprefix("http://owlmail.test"), data=fields).status_code == 200


def test_a_confirmation_token_cannot_unsubscribe_and_vice_versa(app, client):
    with app.app_context():
        person = Subscriber(email="b@example.org", email_key="b@example.org",
                            status=SubscriberStatus.CONFIRMED)
        db.session.add(person)
        db.session.commit()
        unsubscribe_token = services.link_token(Purpose.UNSUBSCRIBE, person)
        wrong_purpose = sign(Purpose.CONFIRM, [person.id, person.token_key])
    assert client.get(f"/confirm/{unsubscribe_token}").status_code == 400
    assert client.get(f"/unsubscribe/{wrong_purpose}").status_code == 400
    assert client.get("/preferences/not-a-token").status_code == 400


# --- the same answer for everybody -----------------------------------------

def _visible_text(html: str) -> str:
    """The page without its per-request hidden values."""
    import re

    return re.sub(r'value="[^"]*"', "", html)


def test_new_pending_and_confirmed_addresses_get_the_same_page(smtp_app, smtp):
    client = smtp_app.test_client()
    new = subscribe(client)
    pending = subscribe(client)
    with smtp_app.app_context():
        db.session.execute(update(Subscriber).values(status=SubscriberStatus.CONFIRMED,
                                                     confirm_nonce=None))
        db.session.commit()
    confirmed = subscribe(client)
    assert new.status_code == pending.status_code == confirmed.status_code == 200
    assert _visible_text(new.text) == _visible_text(pending.text) == _visible_text(confirmed.text)

    deliver(smtp_app)
    subjects = [m["Subject"] for m in smtp.messages_to("anna@example.org")]
    assert subjects[:2] == ["Bitte bestätigen Sie Ihre Anmeldung zum OWL-morgen-Newsletter"] * 2
    assert subjects[2] == "Sie erhalten den OWL-morgen-Newsletter bereits"
    [already] = [m for m in smtp.messages_to("anna@example.org") if "bereits" in m["Subject"]]
    assert links_in(already, "/preferences/") and not links_in(already, "/confirm/")


def test_leaving_and_coming_back_goes_through_double_opt_in_again(smtp_app, smtp):
    client = smtp_app.test_client()
    subscribe(client)
    deliver(smtp_app)
    link = confirm_link(smtp)
    client.post(link, data=hidden_fields(client.get(link).data))
    with smtp_app.app_context():
        token = services.link_token(Purpose.UNSUBSCRIBE, db.session.scalar(select(Subscriber)))
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert the_subscriber(smtp_app).status == SubscriberStatus.UNSUBSCRIBED

    subscribe(client)
    deliver(smtp_app)
    assert the_subscriber(smtp_app).status == SubscriberStatus.PENDING
    assert len([m for m in smtp.messages_to("anna@example.org")
                if "bestätigen" in m["Subject"]]) == 2


# --- hostile and unusual input ---------------------------------------------

def test_crlf_in_the_name_cannot_add_a_header(smtp_app, smtp):
    response = subscribe(smtp_app.test_client(),
                         name="Eve\r\nBcc: victim@example.org\r\nX-Evil: 1")
    assert response.status_code in (200, 400)
    deliver(smtp_app)
    for received in smtp.received:
        assert received.recipients == ["anna@example.org"]
        assert received.message["Bcc"] is None and received.message["X-Evil"] is None
        assert "\r\nBcc:" not in received.data.decode("ascii", "replace")


@pytest.mark.parametrize("email", ["anna@example.org\r\nBcc: x@example.org",
                                   "anna@example.org\nX-Evil: 1"])
def test_crlf_in_the_address_is_refused(app, client, email):
    response = subscribe(client, email=email)
    assert response.status_code == 400
    assert "gültige E-Mail-Adresse" in response.text
    assert count(app, Subscriber) == 0


def test_umlauts_in_the_name_and_an_idn_domain_are_kept_and_delivered(smtp_app, smtp):
    response = subscribe(smtp_app.test_client(), email="Jörg@Bücher.de",
                         name="Jörg Müßig-Özdemir")
    assert response.status_code == 400  # a non-ASCII local part: refused, never mangled
    assert "Umlauten" in response.text

    assert subscribe(smtp_app.test_client(), email="joerg@Bücher.DE",
                     name="Jörg Müßig-Özdemir").status_code == 200
    person = the_subscriber(smtp_app, "joerg@bücher.de")
    assert person.name == "Jörg Müßig-Özdemir"
    assert person.email_key == "joerg@xn--bcher-kva.de"
    deliver(smtp_app)
    [received] = smtp.received
    assert received.recipients == ["joerg@xn--bcher-kva.de"]
    assert "Jörg Müßig-Özdemir" in str(received.message["To"])


@pytest.mark.parametrize("email", ["", "not-an-address", "a@b", "@example.org",
                                   "a" * 250 + "@example.org"])
def test_invalid_addresses_get_a_clear_german_answer(app, client, email):
    response = subscribe(client, email=email)
    assert response.status_code == 400
    assert "E-Mail-Adresse" in response.text
    assert count(app, Subscriber) == 0


def test_the_consent_box_must_be_ticked(app, client):
    response = subscribe(client, consent="")
    assert response.status_code == 400
    assert count(app, Subscriber) == 0


def test_a_two_megabyte_body_gets_413_in_german_and_nothing_is_stored(app, client):
    response = subscribe(client, name="x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "zu groß" in response.text
    upload = client.post("/subscribe", data={"email": "a@example.org",
                                             "file": (io.BytesIO(b"x" * 2_100_000), "a.bin")},
                         content_type="multipart/form-data")
    assert upload.status_code == 413
    assert count(app, Subscriber) == 0


def test_a_form_without_csrf_token_gets_400(app, client):
    response = client.post("/subscribe", data=FORM)
    assert response.status_code == 400
    assert "Formular" in response.text
    assert count(app, Subscriber) == 0


# --- bots and limits -------------------------------------------------------

def test_a_filled_honeypot_looks_like_success_but_stores_and_sends_nothing(smtp_app, smtp):
    response = subscribe(smtp_app.test_client(), website="http://spam.example")
    assert response.status_code == 200
    assert "prüfen Sie Ihr Postfach" in response.text
    assert count(smtp_app, Subscriber) == 0
    assert deliver(smtp_app) == 0


def test_a_form_sent_back_too_fast_is_refused_and_can_be_sent_again(make_app):
    app = make_app(FORM_MIN_SECONDS=30)
    response = subscribe(app.test_client())
    assert response.status_code == 400
    assert "sehr schnell" in response.text
    assert count(app, Subscriber) == 0


def test_a_visitor_who_signs_up_too_often_is_slowed_down(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SUBSCRIBE_RATE_LIMIT="3/minute",
                   SUBSCRIBE_ADDRESS_RATE_LIMIT="100/minute")
    client = app.test_client()
    answers = [subscribe(client, email=f"p{i}@example.org").status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = subscribe(client, email="q@example.org")
    assert "Zu viele Anfragen" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60  # the minute's window ends by then


def test_one_address_cannot_be_flooded_with_confirmation_mails(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SUBSCRIBE_RATE_LIMIT="100/minute",
                   SUBSCRIBE_ADDRESS_RATE_LIMIT="2/hour")
    client = app.test_client()
    answers = [subscribe(client, email="victim@example.org").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    retry_after = int(subscribe(client, email="victim@example.org").headers["Retry-After"])
    assert 60 < retry_after <= 3600  # the address's hour, not the visitor's minute
    assert subscribe(client, email="other@example.org").status_code == 200
    assert count(app, OutboxMail) == 3


def test_typos_of_different_people_do_not_share_one_rate_limit_bucket(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SUBSCRIBE_RATE_LIMIT="100/minute",
                   SUBSCRIBE_ADDRESS_RATE_LIMIT="2/hour")
    bot = app.test_client()
    assert [subscribe(bot, email="garbage").status_code for _ in range(3)] == [400, 400, 429]
    someone = app.test_client()
    assert subscribe(someone, email="anna@example").status_code == 400  # a typo: told so, not 429


# --- leaving ---------------------------------------------------------------

@pytest.fixture
def member(app):
    with app.app_context():
        person = Subscriber(email="m@example.org", email_key="m@example.org",
                            status=SubscriberStatus.CONFIRMED, confirmed_at=utcnow())
        db.session.add(person)
        db.session.commit()
        return services.link_token(Purpose.UNSUBSCRIBE, person)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "multipart/form-data"])
def test_one_click_unsubscribe_works_without_cookie_or_csrf_and_twice(app, member,
                                                                      content_type):
    client = app.test_client(use_cookies=False)
    for _ in range(2):
        response = client.post(f"/unsubscribe/{member}",
                               data={"List-Unsubscribe": "One-Click"},
                               content_type=content_type)
        assert response.status_code == 200  # never a redirect
        assert "abgemeldet" in response.text
    with app.app_context():
        person = db.session.scalar(select(Subscriber))
        assert person.status == SubscriberStatus.UNSUBSCRIBED
        actions = db.session.scalars(select(ConsentEvent.action)).all()
    assert actions == ["unsubscribed"]


def test_the_unsubscribe_page_form_needs_its_csrf_token(app, member):
    client = app.test_client()
    refused = client.post(f"/unsubscribe/{member}", data={})
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Subscriber.status)) == SubscriberStatus.CONFIRMED
    page = client.get(f"/unsubscribe/{member}")
    form = hidden_fields(page.data)
    assert client.post(f"/unsubscribe/{member}", data=form).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Subscriber.status)) == SubscriberStatus.UNSUBSCRIBED


# --- proof of consent ------------------------------------------------------

def test_the_consent_log_records_request_and_confirmation_with_evidence(smtp_app, smtp):
    client = smtp_app.test_client()
    FormClient(client).submit("/", FORM, action="/subscribe",
                              headers={"User-Agent": "Firefox/140 (Test)"},
                              environ_base={"REMOTE_ADDR": "203.0.113.77"})
    deliver(smtp_app)
    link = confirm_link(smtp)
    client.post(link, data=hidden_fields(client.get(link).data),
                environ_base={"REMOTE_ADDR": "203.0.113.78"})
    with smtp_app.app_context():
        events = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        requested, confirmed = events
        assert requested.action == "requested" and confirmed.action == "confirmed"
        assert requested.ip == "203.0.113.77" and confirmed.ip == "203.0.113.78"
        assert requested.user_agent == "Firefox/140 (Test)"
        assert requested.consent_text_version
        assert requested.mail_template_version.endswith("-de")  # which mail, in which language
        assert requested.source_url.startswith("http://")
        assert confirmed.at >= requested.at


@pytest.mark.parametrize(("mode", "stored"), [("truncate", "203.0.113.0"), ("omit", None)])
def test_the_ip_address_can_be_truncated_or_left_out(make_app, mode, stored):
    app = make_app(CONSENT_IP_MODE=mode)
    FormClient(app.test_client()).submit("/", FORM, action="/subscribe",
                                         environ_base={"REMOTE_ADDR": "203.0.113.77"})
    with app.app_context():
        assert db.session.scalar(select(ConsentEvent.ip)) == stored


# --- housekeeping ----------------------------------------------------------

def test_unconfirmed_sign_ups_are_deleted_after_the_purge_period(app, client):
    subscribe(client)
    subscribe(client, email="fresh@example.org")
    with app.app_context():
        db.session.execute(update(Subscriber).where(Subscriber.email == "anna@example.org")
                           .values(requested_at=utcnow() - timedelta(days=15)))
        db.session.commit()
        assert purge_unconfirmed() == 1
        assert db.session.scalars(select(Subscriber.email)).all() == ["fresh@example.org"]
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 1


def test_healthz_reports_database_and_queue(app, client):
    subscribe(client)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["queue"]["queued"] == 1


def test_a_new_consent_wording_stored_by_another_worker_at_the_same_moment_is_no_error(
        app, monkeypatch):
    """Two web workers that both see the wording missing both insert it; the second
    insert must not turn the visitor's sign-up into a 500."""
    assert subscribe(app.test_client()).status_code == 200  # stores the wording
    app.extensions["owlmail.consent_versions"].clear()  # a worker that has not seen it
    real_get = db.session.get
    monkeypatch.setattr(db.session, "get", lambda model, key, **kw: None
                        if model is ConsentText else real_get(model, key, **kw))

    assert subscribe(app.test_client(), email="bert@example.org").status_code == 200
    with app.app_context():
        assert count(app, ConsentText) == 1
        assert the_subscriber(app, "bert@example.org").status == SubscriberStatus.PENDING
