"""The sender under faults: refusals, outages, pauses, cancels and unsubscribes mid-run."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from owlmail.addresses import address_hash
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.campaigns.services import cancel, pause, resume
from owlmail.delivery import engine
from owlmail.delivery.engine import run_due_campaigns
from owlmail.delivery.models import Delivery
from owlmail.extensions import db
from owlmail.outbox.services import drain_outbox
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus, Suppression
from owlmail.subscriptions.services import link_token
from owlmail.timeutil import utcnow
from owlmail.tokens import Purpose
from tests.support.campaigns import add_campaign, add_subscribers, campaign_state, delivery_counts
from tests.support.pages import wait_for


@pytest.fixture
def sender_app(make_app, smtp):
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_CONNECTIONS=2,
                    SEND_BATCH_SIZE=10, SEND_RETRY_SECONDS=[0], FAILURE_PAUSE_THRESHOLD=5)


def received_by(smtp) -> Counter:
    return Counter(rcpt for received in smtp.received for rcpt in received.recipients)


def delivery_of(campaign_id: int, email: str) -> Delivery:
    delivery = db.session.scalar(select(Delivery).join(Subscriber).where(
        Delivery.campaign_id == campaign_id, Subscriber.email == email))
    db.session.commit()
    return delivery


def in_background(app) -> threading.Thread:
    """run_due_campaigns in its own thread, as the scheduler runs it."""

    def work():
        with app.app_context():
            try:
                run_due_campaigns()
            finally:
                db.session.remove()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def change_status(campaign_id: int, transition) -> None:
    campaign = db.session.get(Campaign, campaign_id)
    transition(campaign)
    db.session.commit()


def test_451_is_retried_and_then_delivered_once(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_RETRY_SECONDS=[3600])
    smtp.handler.rcpt_answers = ["451 4.3.0 Bitte später noch einmal"]
    with app.app_context():
        add_subscribers(6)
        campaign_id = add_campaign()
        run_due_campaigns()
        assert len(received_by(smtp)) == 5
        assert campaign_state(campaign_id).status == CampaignStatus.SENDING
        deferred = db.session.scalar(select(Delivery).where(Delivery.status == "pending"))
        assert (deferred.attempts, deferred.smtp_code) == (1, 451)
        assert "Bitte später" in deferred.smtp_message
        assert deferred.next_attempt_at > utcnow() + timedelta(minutes=59)  # the back-off
        deferred.next_attempt_at = utcnow()  # … has passed
        db.session.commit()

        run_due_campaigns()
        got = received_by(smtp)
        assert len(got) == 6 and set(got.values()) == {1}
        assert campaign_state(campaign_id).status == CampaignStatus.SENT


def test_421_closes_the_connection_and_the_mail_is_retried(sender_app, smtp):
    smtp.handler.rcpt_answers = ["250 OK", "421 4.3.2 Service shutting down"]
    with sender_app.app_context():
        add_subscribers(8)
        campaign_id = add_campaign()
        run_due_campaigns()
        run_due_campaigns()
        got = received_by(smtp)
        assert len(got) == 8 and set(got.values()) == {1}
        assert campaign_state(campaign_id).status == CampaignStatus.SENT


def test_server_away_keeps_every_recipient_and_sends_when_it_returns(sender_app, smtp):
    smtp.stop()
    with sender_app.app_context():
        add_subscribers(12)
        campaign_id = add_campaign()
        assert run_due_campaigns() == 0
        assert delivery_counts(campaign_id) == {"pending": 12}
        assert db.session.scalar(select(func.max(Delivery.attempts))) == 0  # no attempt burnt
        assert db.session.scalar(select(func.count()).where(Delivery.claimed_by.is_not(None))) == 0
        db.session.commit()

        smtp.start()

        def sent_after_a_poll() -> bool:
            run_due_campaigns()  # the scheduler's poll; waits out the reconnect back-off
            return campaign_state(campaign_id).status == CampaignStatus.SENT

        wait_for(sent_after_a_poll, timeout=15)
    got = received_by(smtp)
    assert len(got) == 12 and set(got.values()) == {1}


def test_hard_bounce_fails_that_recipient_suppresses_the_address_and_goes_on(sender_app, smtp):
    smtp.handler.refuse["leser2@example.org"] = "550 5.1.1 <leser2@example.org>: User unknown"
    with sender_app.app_context():
        add_subscribers(5)
        campaign_id = add_campaign()
        run_due_campaigns()
        assert len(received_by(smtp)) == 4
        bounced = delivery_of(campaign_id, "leser2@example.org")
        assert (bounced.status, bounced.smtp_code) == ("failed", 550)
        assert "5.1.1" in bounced.smtp_message and "User unknown" in bounced.smtp_message
        subscriber = db.session.scalar(select(Subscriber).filter_by(email="leser2@example.org"))
        assert subscriber.status == SubscriberStatus.BOUNCED
        assert db.session.scalar(select(Suppression).filter_by(
            email_hash=address_hash("leser2@example.org"))).reason == "hard_bounce"
        assert db.session.scalar(select(ConsentEvent.action).filter_by(
            subscriber_id=subscriber.id)) == "bounced"
        db.session.commit()
        state = campaign_state(campaign_id)
        assert (state.status, state.sent_count, state.failed_count) == (CampaignStatus.SENT, 4, 1)


def test_a_policy_refusal_fails_the_mail_but_keeps_the_subscriber(sender_app, smtp):
    smtp.handler.refuse["leser0@example.org"] = "554 5.7.1 Message rejected as spam"
    with sender_app.app_context():
        add_subscribers(2)
        campaign_id = add_campaign()
        run_due_campaigns()
        refused = delivery_of(campaign_id, "leser0@example.org")
        assert (refused.status, refused.smtp_code) == ("failed", 554)
        assert db.session.scalar(select(Subscriber.status).filter_by(
            email="leser0@example.org")) == SubscriberStatus.CONFIRMED
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_a_run_of_failures_pauses_the_campaign_and_tells_the_editors(sender_app, smtp,
                                                                     make_editor):
    make_editor("redaktion@owl-morgen.de")
    make_editor("chefin@owl-morgen.de", role="admin")
    with sender_app.app_context():
        add_subscribers(40)
        for number in range(40):
            smtp.handler.refuse[f"leser{number}@example.org"] = "554 5.7.1 Relay access denied"
        campaign_id = add_campaign(subject="Herbstausgabe")
        run_due_campaigns()
        state = campaign_state(campaign_id)
        assert state.status == CampaignStatus.PAUSED
        assert "angehalten" in state.status_note and "Relay access denied" in state.status_note
        counts = delivery_counts(campaign_id)
        # … plus what was in flight: per connection one refused and one being refused
        assert 5 <= counts["failed"] <= 5 + 2 * 2
        assert counts["pending"] == 40 - counts["failed"]
        drain_outbox()
    for editor in ("redaktion@owl-morgen.de", "chefin@owl-morgen.de"):
        [notice] = smtp.messages_to(editor)
        assert "Herbstausgabe" in notice["Subject"]
        assert "Relay access denied" in notice.get_content()


def test_temporary_failures_give_up_after_the_last_attempt(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_RETRY_SECONDS=[0],
                   SEND_MAX_ATTEMPTS=3, FAILURE_PAUSE_THRESHOLD=0)
    smtp.handler.refuse["leser0@example.org"] = "452 4.2.2 Mailbox full"
    with app.app_context():
        add_subscribers(1)
        campaign_id = add_campaign()
        for _ in range(3):
            run_due_campaigns()
        delivery = delivery_of(campaign_id, "leser0@example.org")
        assert (delivery.status, delivery.attempts, delivery.smtp_code) == ("failed", 3, 452)
        assert campaign_state(campaign_id).status == CampaignStatus.SENT


def test_pause_and_resume_never_send_twice(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_CONNECTIONS=3,
                   SEND_BATCH_SIZE=10, SEND_RATE_PER_SECOND=150)
    with app.app_context():
        add_subscribers(200)
        campaign_id = add_campaign()
    run = in_background(app)
    wait_for(lambda: len(smtp.received) >= 30)
    with app.app_context():
        change_status(campaign_id, pause)
        run.join(10)
        assert not run.is_alive()
        counts = delivery_counts(campaign_id)
        assert counts["sent"] == len(smtp.received) < 200
        assert campaign_state(campaign_id).status == CampaignStatus.PAUSED
        assert run_due_campaigns() == 0  # a paused campaign sends nothing

        change_status(campaign_id, resume)
        run_due_campaigns()
        assert campaign_state(campaign_id).status == CampaignStatus.SENT
    got = received_by(smtp)
    assert len(got) == 200 and set(got.values()) == {1}


def test_cancel_stops_the_run_and_skips_the_rest(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_CONNECTIONS=2,
                   SEND_BATCH_SIZE=10, SEND_RATE_PER_SECOND=150)
    with app.app_context():
        add_subscribers(150)
        campaign_id = add_campaign()
    run = in_background(app)
    wait_for(lambda: len(smtp.received) >= 20)
    with app.app_context():
        change_status(campaign_id, cancel)
        run.join(10)
        run_due_campaigns()  # the next poll skips what was left
        counts = delivery_counts(campaign_id)
        state = campaign_state(campaign_id)
    got = received_by(smtp)
    assert set(got.values()) == {1}
    assert counts == {"sent": len(got), "skipped": 150 - len(got)}
    assert state.status == CampaignStatus.CANCELLED
    assert (state.sent_count, state.skipped_count) == (len(got), 150 - len(got))


def test_who_unsubscribes_during_the_run_gets_nothing_more(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_CONNECTIONS=2,
                   SEND_BATCH_SIZE=5, SEND_RATE_PER_SECOND=100)
    with app.app_context():
        ids = add_subscribers(120)
        campaign_id = add_campaign()
        last = db.session.get(Subscriber, ids[-1])
        token = link_token(Purpose.UNSUBSCRIBE, last)
        db.session.commit()
    run = in_background(app)
    wait_for(lambda: len(smtp.received) >= 10)
    answer = app.test_client().post(f"/unsubscribe/{token}",
                                    data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code < 300
    run.join(20)
    got = received_by(smtp)
    assert "leser119@example.org" not in got
    assert len(got) == 119 and set(got.values()) == {1}
    with app.app_context():
        assert delivery_of(campaign_id, "leser119@example.org").status == "skipped"
        state = campaign_state(campaign_id)
        assert (state.status, state.sent_count, state.skipped_count) == (
            CampaignStatus.SENT, 119, 1)


def test_rate_per_second_is_kept(make_app, smtp):
    import time

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_RATE_PER_SECOND=40)
    with app.app_context():
        add_subscribers(20)
        add_campaign()
        began = time.monotonic()
        run_due_campaigns()
        elapsed = time.monotonic() - began
    assert len(smtp.received) == 20
    assert elapsed >= 19 / 40


def test_the_hourly_limit_holds_across_runs(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, SEND_RATE_PER_HOUR=4,
                   SEND_CONNECTIONS=1)
    with app.app_context():
        add_subscribers(3, prefix="erste")
        add_campaign()
        run_due_campaigns()
        add_subscribers(3, prefix="zweite")
        second = add_campaign()
        run = in_background(app)
        wait_for(lambda: len(smtp.received) >= 4)
        change_status(second, pause)  # ends the run that waits for the next hour
        run.join(10)
        assert not run.is_alive()
    assert len(smtp.received) == 4


def test_a_campaign_that_cannot_be_rendered_is_paused_with_the_reason(sender_app, smtp,
                                                                      monkeypatch):
    def broken(campaign, **options):
        raise ValueError("Vorlage fehlt")

    monkeypatch.setattr(engine, "compile_campaign", broken)
    with sender_app.app_context():
        add_subscribers(2)
        campaign_id = add_campaign()
        assert run_due_campaigns() == 0
        state = campaign_state(campaign_id)
    assert state.status == CampaignStatus.PAUSED
    assert "Vorlage fehlt" in state.status_note
    assert smtp.received == []
