"""A person subscribes, confirms by mail, changes topics and leaves: the whole journey."""

from email.message import EmailMessage

from sqlalchemy import select

from owlmail.extensions import db
from owlmail.subscriptions.models import Subscriber, SubscriberStatus
from tests.support.db import deliver
from tests.support.pages import hidden_fields, links_in


def subscribe(browser_form, email="anna@example.org", **extra):
    data = {"email": email, "name": "Anna Müller", "topics": ["bildung", "it"], "consent": "y"}
    return browser_form.submit("/", {**data, **extra}, action="/subscribe")


def subscriber(app, email="anna@example.org") -> Subscriber:
    with app.app_context():
        row = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        db.session.expunge_all()
        return row


def only_mail_to(smtp, address: str) -> EmailMessage:
    messages = smtp.messages_to(address)
    assert len(messages) == 1, f"expected one mail to {address}, got {len(messages)}"
    return messages[0]


def path_of(url: str) -> str:
    return url.removeprefix("http://owlmail.test")


def test_subscribing_sends_a_confirmation_mail_and_nothing_else(smtp_app, smtp):
    from tests.conftest import FormClient

    browser = FormClient(smtp_app.test_client())
    response = subscribe(browser)
    assert response.status_code == 200
    assert "prüfen Sie Ihr Postfach" in response.text
    deliver(smtp_app)

    mail = only_mail_to(smtp, "anna@example.org")
    assert mail["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung zum OWL-morgen-Newsletter"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe"] is None  # transactional: no newsletter headers
    assert mail["Message-ID"] and mail["Date"]
    assert len(links_in(mail, "http://owlmail.test/confirm/")) == 1
    assert subscriber(smtp_app).status == SubscriberStatus.PENDING


def test_the_confirmation_link_shows_a_button_and_only_the_post_confirms(smtp_app, smtp):
    from tests.conftest import FormClient

    client = smtp_app.test_client()
    subscribe(FormClient(client))
    deliver(smtp_app)
    link = path_of(links_in(only_mail_to(smtp, "anna@example.org"), "/confirm/")[0])

    page = client.get(link)  # what a mail scanner does
    assert page.status_code == 200
    assert subscriber(smtp_app).status == SubscriberStatus.PENDING

    confirmed = client.post(link, data=hidden_fields(page.data))
    assert confirmed.status_code == 200
    assert "Willkommen" in confirmed.text
    assert subscriber(smtp_app).status == SubscriberStatus.CONFIRMED
    deliver(smtp_app)
    assert len(smtp.received) == 1  # confirming sends no further mail


def test_a_confirmation_link_works_once(smtp_app, smtp):
    from tests.conftest import FormClient

    client = smtp_app.test_client()
    subscribe(FormClient(client))
    deliver(smtp_app)
    link = path_of(links_in(only_mail_to(smtp, "anna@example.org"), "/confirm/")[0])
    fields = hidden_fields(client.get(link).data)
    assert client.post(link, data=fields).status_code == 200

    again = client.post(link, data=fields)
    assert again.status_code == 410
    assert "bereits verwendet" in again.text
    assert client.get(link).status_code == 410
