"""A double click on "Anmelden": two sign-ups of one address at the same moment."""

import threading

import pytest
from sqlalchemy import event, func, select

from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.conftest import PG_URI, FormClient
from tests.support.pages import hidden_fields

FORM = {"email": "anna@example.org", "name": "Anna Müller", "topics": ["bildung"],
        "consent": "y"}


def _both_look_before_either_writes(app):
    """Hold each request after its first look at the subscribers table until the other
    request has looked too: the moment a double click on PostgreSQL is most at risk."""
    barrier, seen = threading.Barrier(2, timeout=10), threading.local()

    def after_execute(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("SELECT") and "FROM subscribers" in statement \
                and not getattr(seen, "looked", False):
            seen.looked = True
            barrier.wait()

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", after_execute)
    return lambda: event.remove(db.engine, "after_cursor_execute", after_execute)


@pytest.mark.postgres_only
def test_two_sign_ups_of_one_address_at_once_both_get_the_page_and_make_one_subscriber(app):
    if not PG_URI:
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    # Someone else signed up first: the consent wording is stored, as on a live site.
    FormClient(app.test_client()).submit("/", {**FORM, "email": "bert@example.org"},
                                         action="/subscribe")
    forms = [FormClient(app.test_client()) for _ in range(2)]
    pages = [form.client.get("/") for form in forms]  # the form pages, before the race
    answers: list = [None, None]

    def click(index: int) -> None:
        data = {**hidden_fields(pages[index].data), **FORM}
        answers[index] = forms[index].client.post("/subscribe", data=data)

    stop_holding = _both_look_before_either_writes(app)
    try:
        clicks = [threading.Thread(target=click, args=(n,)) for n in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join(timeout=30)
    finally:
        with app.app_context():
            stop_holding()
    assert [answer.status_code for answer in answers] == [200, 200]
    with app.app_context():
        annas = db.session.scalars(select(Subscriber).filter_by(email="anna@example.org")).all()
        assert [anna.status for anna in annas] == [SubscriberStatus.PENDING]
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent).where(
            ConsentEvent.subscriber_id == annas[0].id)) == 2  # both requests are on record
