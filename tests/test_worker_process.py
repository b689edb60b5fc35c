"""The worker as production runs it: a separate process that can be stopped or killed."""

from collections import Counter

import pytest
from sqlalchemy import func, select

from owlmail.campaigns.models import CampaignStatus
from owlmail.delivery.models import Delivery
from owlmail.extensions import db
from tests.support.campaigns import add_campaign, add_subscribers, campaign_state, delivery_counts
from tests.support.pages import wait_for
from tests.support.worker import WorkerProcess

CONNECTIONS = 3


@pytest.fixture
def worker_app(make_app, smtp):
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)


@pytest.fixture
def workers(worker_app, tmp_path):
    """Start worker processes: workers(**settings) -> WorkerProcess; all killed at the end."""
    started = []

    def start(**settings):
        settings = {"SEND_CONNECTIONS": CONNECTIONS, "SEND_BATCH_SIZE": 20, **settings}
        worker = WorkerProcess(worker_app, tmp_path / f"worker{len(started)}.log", **settings)
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop_quietly()


def received_by(smtp) -> Counter:
    return Counter(rcpt for received in smtp.received for rcpt in received.recipients)


def claims_held(campaign_id: int) -> int:
    count = db.session.scalar(select(func.count()).where(
        Delivery.campaign_id == campaign_id, Delivery.claimed_by.is_not(None)))
    db.session.commit()
    return count


def test_kill_9_mid_campaign_then_restart_loses_nobody(worker_app, workers, smtp):
    with worker_app.app_context():
        add_subscribers(300)
        campaign_id = add_campaign()
    first = workers(SEND_RATE_PER_SECOND=200)
    wait_for(lambda: len(smtp.received) >= 60, timeout=30)
    first.kill()
    sent_before_restart = len(smtp.received)
    assert sent_before_restart < 300, "the campaign finished before the kill"

    workers()
    with worker_app.app_context():
        wait_for(lambda: campaign_state(campaign_id).status == CampaignStatus.SENT, timeout=30)
        got = received_by(smtp)
        assert len(got) == 300  # every recipient at least once
        duplicates = sum(count - 1 for count in got.values())
        assert duplicates <= CONNECTIONS  # at most the mails in flight at the kill
        assert delivery_counts(campaign_id) == {"sent": 300}
        assert campaign_state(campaign_id).sent_count == 300


def test_sigterm_finishes_mails_in_flight_and_exits_cleanly(worker_app, workers, smtp):
    with worker_app.app_context():
        add_subscribers(300)
        campaign_id = add_campaign()
    worker = workers(SEND_RATE_PER_SECOND=150)
    wait_for(lambda: len(smtp.received) >= 30, timeout=30)

    assert worker.terminate() == 0, worker.log()
    assert "stopped" in worker.log()
    with worker_app.app_context():
        counts = delivery_counts(campaign_id)
        assert counts["sent"] == len(smtp.received) < 300  # nothing sent goes unrecorded
        assert claims_held(campaign_id) == 0  # the unsent ones are free for the next worker
        assert campaign_state(campaign_id).status == CampaignStatus.SENDING

    workers()  # a graceful stop repeats nothing
    with worker_app.app_context():
        wait_for(lambda: campaign_state(campaign_id).status == CampaignStatus.SENT, timeout=30)
    got = received_by(smtp)
    assert len(got) == 300 and set(got.values()) == {1}


def test_a_second_worker_on_sqlite_is_refused_with_a_clear_message(worker_app, workers):
    if worker_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("several workers are allowed on PostgreSQL")
    first = workers()
    wait_for(lambda: "running" in first.log(), timeout=30)
    second = workers()
    assert second.process.wait(30) == 1
    assert "Mit SQLite darf nur ein Worker laufen" in second.log()
    assert first.running()


def test_two_workers_on_postgresql_share_a_campaign_without_duplicates(worker_app, workers,
                                                                       smtp):
    if not worker_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (row locks); SQLite allows one worker")
    with worker_app.app_context():
        add_subscribers(600)
        campaign_id = add_campaign()
    first, second = workers(SEND_RATE_PER_SECOND=150), workers(SEND_RATE_PER_SECOND=150)
    with worker_app.app_context():
        wait_for(lambda: campaign_state(campaign_id).status == CampaignStatus.SENT, timeout=40)
    got = received_by(smtp)
    assert len(got) == 600 and set(got.values()) == {1}
    assert "mails/s" in first.log() and "mails/s" in second.log()  # both took part
