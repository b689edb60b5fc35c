"""Purge jobs run once per schedule, however many workers run the scheduler."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.jobruns import take_turn
from owlmail.scheduler import job_table
from owlmail.subscriptions.models import Subscriber, SubscriberStatus
from owlmail.timeutil import utcnow
from tests.conftest import PG_URI


def test_the_first_worker_takes_the_turn_and_the_next_turn_comes_after_the_interval(app):
    with app.app_context():
        assert take_turn("purge-contact", 3600, now=100_000.0)
        assert not take_turn("purge-contact", 3600, now=100_030.0)  # another worker, later
        assert take_turn("purge-unconfirmed", 3600, now=100_030.0)  # a job of its own
        assert take_turn("purge-contact", 3600, now=103_600.0)  # the next schedule


def _stale_sign_up(email: str) -> None:
    db.session.add(Subscriber(email=email, email_key=email, status=SubscriberStatus.PENDING,
                              requested_at=utcnow() - timedelta(days=30)))
    db.session.commit()


def _purge_job(app):
    return next(func for name, func, _seconds in job_table(app) if name == "purge-unconfirmed")


def test_a_second_worker_skips_the_purge_the_first_one_just_ran(make_app):
    first, second = make_app(), make_app()  # two workers' apps on one database
    with first.app_context():
        _stale_sign_up("alt@example.org")
        _purge_job(first)()
        assert db.session.scalars(select(Subscriber.email)).all() == []
        _stale_sign_up("neu@example.org")
    with second.app_context():
        _purge_job(second)()
        assert db.session.scalars(select(Subscriber.email)).all() == ["neu@example.org"]


@pytest.mark.postgres_only
def test_two_workers_asking_at_the_same_moment_get_one_turn(make_app):
    if not PG_URI:
        pytest.skip("one SQLite file has one worker")
    apps = [make_app(), make_app()]
    barrier, turns = threading.Barrier(2, timeout=10), []

    def ask(app) -> None:
        with app.app_context():
            barrier.wait()
            turns.append(take_turn("purge-contact", 6 * 3600))
            db.session.remove()

    threads = [threading.Thread(target=ask, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(turns) == [False, True]
