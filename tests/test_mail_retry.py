"""The one retry policy: waits grow with each failure, then stay at the last step."""

from datetime import timedelta

import pytest

from owlmail.delivery.services import retry_delay
from owlmail.mail.retry import OUTBOX_BACKOFF, Backoff


def test_waits_grow_with_each_failure_then_stay_at_the_last_step():
    backoff = Backoff([5, 10, 20])
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 50)] == [
        timedelta(seconds=s) for s in (5, 10, 20, 20, 20)]


def test_a_transactional_mail_is_retried_within_a_minute_however_often_it_failed():
    assert max(OUTBOX_BACKOFF.delay(n) for n in range(1, 100)) <= timedelta(minutes=1)


def test_the_engine_back_off_comes_from_its_setting(app):
    app.config["SEND_RETRY_SECONDS"] = [7, 70]
    with app.app_context():
        waits = [retry_delay(n) for n in (1, 2, 3)]
    assert waits == [timedelta(seconds=s) for s in (7, 70, 70)]


@pytest.mark.parametrize("steps", [[], [5, -1]])
def test_a_back_off_without_steps_or_with_a_negative_step_is_refused(steps):
    with pytest.raises(ValueError):
        Backoff(steps)
