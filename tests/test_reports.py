"""A campaign's report: what was delivered, refused, bounced, complained about and
unsubscribed through its own links — for editors on a page and through the API."""

import pytest
from sqlalchemy import select

from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from owlmail.subscriptions.models import Subscriber
from tests.support.campaigns import add_campaign, add_subscribers
from tests.test_api import Api, make_token
from tests.test_bounces import ARF, dsn, pipe

FULL = {"status": "4.2.2", "diagnostic": "552 4.2.2 Mailbox full"}


@pytest.fixture
def sent(make_app, smtp):
    """Five readers got a campaign; one address was refused with 550 5.1.1 on the spot."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    smtp.handler.refuse["leser4@example.org"] = "550 5.1.1 no such user"
    with app.app_context():
        add_subscribers(4, prefix="leser")
        add_subscribers(1, prefix="leser4-", name="x")
        db.session.execute(Subscriber.__table__.update().where(
            Subscriber.email == "leser4-0@example.org").values(
            email="leser4@example.org", email_key="leser4@example.org"))
        db.session.commit()
        campaign_id = add_campaign()
        run_due_campaigns()
    mails = {r.recipients[0]: r for r in smtp.received}
    return app, campaign_id, mails


def report(app, campaign_id: int) -> dict:
    api = app.extensions.get("test.api")
    if api is None:
        api = app.extensions["test.api"] = Api(app.test_client(), make_token(app))
    response = api.get(f"/campaigns/{campaign_id}/report")
    assert response.status_code == 200, response.json
    return response.json


def one_click(app, mail) -> None:
    """What a mail client's unsubscribe button does with the mail's header."""
    url = mail.message["List-Unsubscribe"].strip("<>").removeprefix("http://owlmail.test")
    response = app.test_client().post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200


def test_the_report_counts_what_came_back_for_this_campaign(sent):
    app, campaign_id, mails = sent
    soft, complains, leaves = "leser0@example.org", "leser1@example.org", "leser2@example.org"
    pipe(app, dsn(mails[soft].envelope_from, soft, **FULL), mails[soft].envelope_from)
    pipe(app, ARF.format(verp=mails[complains].envelope_from, rcpt=complains),
         mails[complains].envelope_from)
    one_click(app, mails[leaves])

    data = report(app, campaign_id)
    assert (data["recipients"], data["sent"], data["failed"]) == (5, 4, 1)
    assert data["bounced"] == 2 and data["bounces"] == {"hard": 1, "soft": 1}
    assert (data["complaints"], data["unsubscribed"]) == (1, 1)
    assert data["domains"] == [{"domain": "example.org", "sent": 4, "failed": 1}]


def test_an_unsubscribe_counts_only_for_the_campaign_whose_link_was_used(sent, smtp):
    app, first_id, _mails = sent
    with app.app_context():
        second_id = add_campaign()
        run_due_campaigns()
    latest = [r for r in smtp.received if r.recipients == ["leser3@example.org"]][-1]
    one_click(app, latest)
    assert report(app, first_id)["unsubscribed"] == 0
    assert report(app, second_id)["unsubscribed"] == 1


def test_an_unsubscribe_without_a_campaign_link_counts_for_no_campaign(sent):
    from owlmail.subscriptions.services import unsubscribe_url

    app, campaign_id, _mails = sent
    with app.test_request_context():
        person = db.session.scalar(select(Subscriber).where(
            Subscriber.email == "leser3@example.org"))
        url = unsubscribe_url(person).removeprefix("http://owlmail.test")
    app.test_client().post(url, data={"List-Unsubscribe": "One-Click"})
    assert report(app, campaign_id)["unsubscribed"] == 0


def test_the_counts_stay_when_the_people_are_erased(sent):
    from owlmail.erasure import erase_person

    app, campaign_id, mails = sent
    one_click(app, mails["leser2@example.org"])
    with app.app_context():
        erase_person(db.session.scalar(select(Subscriber).where(
            Subscriber.email == "leser2@example.org")))
        db.session.commit()
    data = report(app, campaign_id)
    assert data["unsubscribed"] == 1 and data["bounces"]["hard"] == 1


def test_a_report_of_an_unknown_campaign_is_a_json_404(app):
    api = Api(app.test_client(), make_token(app))
    response = api.get("/campaigns/999/report")
    assert response.status_code == 404 and response.json["error"]["message"]


def test_editors_see_the_report_page_in_german_and_english(sent, make_editor):
    from tests.conftest import log_in

    app, campaign_id, mails = sent
    one_click(app, mails["leser2@example.org"])
    client = app.test_client()
    log_in(client, make_editor())
    page = client.get(f"/admin/campaigns/{campaign_id}/report")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Abmeldungen über diese Kampagne" in text and "example.org" in text
    assert "<svg" in text
    english = client.get(f"/admin/campaigns/{campaign_id}/report?lang=en").get_data(as_text=True)
    assert "Unsubscribed through this campaign" in english
    edit = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert f"/admin/campaigns/{campaign_id}/report" in edit


def test_the_report_page_needs_a_login(sent):
    app, campaign_id, _mails = sent
    response = app.test_client().get(f"/admin/campaigns/{campaign_id}/report")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
