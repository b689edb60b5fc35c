"""Soft bounces: a mailbox that is full for a day stays on the list; one that keeps
failing across campaigns is taken off it, with the reason in the consent log."""

import json

import pytest
from sqlalchemy import select

from owlmail.delivery.engine import run_due_campaigns
from owlmail.events import CampaignEvent, EventKind
from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from owlmail.subscriptions.services import is_suppressed
from tests.support.campaigns import add_campaign, add_subscribers
from tests.test_bounces import actions, dsn, person, pipe

RCPT = "leser0@example.org"
FULL = {"status": "4.2.2", "diagnostic": "552 4.2.2 <{rcpt}>: Mailbox full"}


@pytest.fixture
def app_(make_app, smtp):
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)


def send_campaign(app, smtp) -> str:
    """A new campaign to everybody; the VERP envelope sender of the mail to RCPT."""
    with app.app_context():
        add_campaign()
        run_due_campaigns()
    return [r.envelope_from for r in smtp.received if r.recipients == [RCPT]][-1]


def test_a_failed_dsn_with_a_4xx_status_is_a_soft_bounce_not_a_hard_one(app_, smtp):
    with app_.app_context():
        add_subscribers(2)
    verp = send_campaign(app_, smtp)
    result = pipe(app_, dsn(verp, RCPT, **FULL), verp)
    assert result.exit_code == 0 and "soft_bounce" in result.stderr
    assert person(app_, RCPT).status == SubscriberStatus.CONFIRMED
    assert actions(app_, RCPT) == ["soft_bounce"]
    with app_.app_context():
        assert not is_suppressed(RCPT)
        detail = json.loads(db.session.scalar(select(ConsentEvent.detail)))
        assert detail["dsn"].startswith("4.2.2 smtp; 552 4.2.2") and "Mailbox full" in detail["dsn"]


def test_the_same_campaign_bouncing_twice_counts_once(app_, smtp):
    with app_.app_context():
        add_subscribers(1)
    verp = send_campaign(app_, smtp)
    for _ in range(3):
        assert pipe(app_, dsn(verp, RCPT, **FULL), verp).exit_code == 0
    assert actions(app_, RCPT) == ["soft_bounce"]
    assert person(app_, RCPT).status == SubscriberStatus.CONFIRMED


def test_soft_bounces_from_three_campaigns_take_the_address_off_the_list(app_, smtp):
    with app_.app_context():
        add_subscribers(2)
    for number in range(3):
        verp = send_campaign(app_, smtp)
        pipe(app_, dsn(verp, RCPT, **FULL), verp)
        expected = SubscriberStatus.BOUNCED if number == 2 else SubscriberStatus.CONFIRMED
        assert person(app_, RCPT).status == expected
    assert actions(app_, RCPT) == ["soft_bounce"] * 3 + ["bounced"]
    with app_.app_context():
        assert is_suppressed(RCPT)
        last = json.loads(db.session.scalars(select(ConsentEvent.detail)
                                             .order_by(ConsentEvent.id.desc())).first())
        assert last["soft_bounces"] == 3 and last["dsn"].startswith("4.2.2")
    assert person(app_, "leser1@example.org").status == SubscriberStatus.CONFIRMED
    with app_.app_context():  # the fourth campaign goes to the other reader only
        add_campaign()
        assert run_due_campaigns() == 1


def test_the_limit_is_a_setting(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SOFT_BOUNCE_LIMIT=1)
    with app.app_context():
        add_subscribers(1)
    verp = send_campaign(app, smtp)
    pipe(app, dsn(verp, RCPT, **FULL), verp)
    assert person(app, RCPT).status == SubscriberStatus.BOUNCED


def test_a_delayed_dsn_counts_nothing(app_, smtp):
    with app_.app_context():
        add_subscribers(1)
    verp = send_campaign(app_, smtp)
    result = pipe(app_, dsn(verp, RCPT, action="delayed", **FULL), verp)
    assert "temporary" in result.stderr
    with app_.app_context():
        assert db.session.scalar(select(CampaignEvent)) is None
    assert actions(app_, RCPT) == []


def test_a_failed_dsn_with_a_5xx_status_is_still_a_hard_bounce(app_, smtp):
    with app_.app_context():
        add_subscribers(1)
    verp = send_campaign(app_, smtp)
    pipe(app_, dsn(verp, RCPT), verp)
    assert person(app_, RCPT).status == SubscriberStatus.BOUNCED
    with app_.app_context():
        assert db.session.scalar(select(CampaignEvent.kind)) == EventKind.HARD_BOUNCE


def test_4xx_answers_until_the_engine_gives_up_count_as_a_soft_bounce(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_MAX_ATTEMPTS=1,
                   SEND_RETRY_SECONDS=[0], SOFT_BOUNCE_LIMIT=2)
    smtp.handler.refuse[RCPT] = "452 4.2.2 Mailbox full"
    with app.app_context():
        add_subscribers(2)
        for _ in range(2):
            add_campaign()
            run_due_campaigns()
        found = db.session.scalar(select(Subscriber).where(Subscriber.email == RCPT))
        assert found.status == SubscriberStatus.BOUNCED
        kinds = db.session.scalars(select(CampaignEvent.kind)).all()
        assert kinds == [EventKind.SOFT_BOUNCE, EventKind.SOFT_BOUNCE]
    assert actions(app, RCPT) == ["soft_bounce", "soft_bounce", "bounced"]


def test_the_subscriber_page_shows_the_soft_bounces_and_the_last_one(app_, smtp, make_editor):
    from tests.conftest import log_in

    with app_.app_context():
        add_subscribers(1)
    for _ in range(2):
        verp = send_campaign(app_, smtp)
        pipe(app_, dsn(verp, RCPT, **FULL), verp)
    client = app_.test_client()
    log_in(client, make_editor())
    page = client.get(f"/admin/subscribers/{person(app_, RCPT).id}").get_data(as_text=True)
    assert "Vorübergehend unzustellbar" in page and "bei 2 Kampagnen" in page
    assert "4.2.2 smtp; 552 4.2.2" in page
