"""The relay's limits hold for all workers together, not for each one."""

import pytest

from owlmail.campaigns.models import CampaignStatus
from owlmail.delivery.throttle import HOUR, Throttle
from owlmail.extensions import db
from tests.support.campaigns import add_campaign, add_subscribers, campaign_state
from tests.support.pages import wait_for
from tests.test_worker_process import received_by, worker_app, workers  # noqa: F401


def test_two_workers_share_the_per_second_pace(app):
    with app.app_context():
        first, second = (Throttle(db.engine, per_second=20, per_hour=None) for _ in range(2))
        assert first.take(1000.0) == 0
        assert second.take(1000.0) == pytest.approx(0.05)  # the other worker's slot
        assert second.take(1000.05) == 0
        assert first.take(1000.06) == pytest.approx(0.04)


def test_two_workers_share_the_hourly_budget(app):
    with app.app_context():
        first, second = (Throttle(db.engine, per_second=None, per_hour=3) for _ in range(2))
        assert [first.take(10.0), second.take(20.0), first.take(30.0)] == [0, 0, 0]
        assert second.take(40.0) == pytest.approx(HOUR - 30.0)  # until the first one is old
        assert first.take(10.0 + HOUR) == 0  # the first mail has left the hour


@pytest.mark.slow
def test_two_worker_processes_together_send_at_the_configured_rate(worker_app, workers,  # noqa: F811
                                                                    smtp):
    if not worker_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL; SQLite allows one worker")
    rate, count = 20, 40
    with worker_app.app_context():
        add_subscribers(count)
        campaign_id = add_campaign()
    first, second = (workers(SEND_RATE_PER_SECOND=rate, SEND_BATCH_SIZE=count // 2)
                     for _ in range(2))
    with worker_app.app_context():
        wait_for(lambda: campaign_state(campaign_id).status == CampaignStatus.SENT, timeout=40)
    arrivals = sorted(received.at for received in smtp.received)
    assert len(received_by(smtp)) == count
    assert "mails/s" in first.log() and "mails/s" in second.log()  # both sent
    assert arrivals[-1] - arrivals[0] >= 0.9 * (count - 1) / rate
