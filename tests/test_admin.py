"""Admin pages and the subscriber queries behind them (also used by the JSON API)."""

import pytest
from sqlalchemy import func, select

from owlmail.admin import services
from owlmail.admin.services import AdminError
from owlmail.extensions import db
from owlmail.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)
from owlmail.subscriptions.addresses import address_hash, normalize_address
from owlmail.subscriptions.consent import Evidence
from owlmail.subscriptions.services import record


def add_subscriber(email: str, status=SubscriberStatus.CONFIRMED, topics=("innovation",),
                   name: str = "") -> int:
    """A subscriber with one consent event; returns its id (inside an app context)."""
    shown, key = normalize_address(email)
    chosen = list(db.session.scalars(select(Topic).where(Topic.slug.in_(topics))))
    subscriber = Subscriber(email=shown, email_key=key, name=name, status=status, topics=chosen)
    db.session.add(subscriber)
    db.session.flush()
    record(subscriber, "requested", Evidence(ip="192.0.2.7", user_agent="Firefox",
                                             source_url="https://owl-morgen.de/"),
           consent_text_version="abc123", mail_template_version="def456")
    db.session.commit()
    return subscriber.id


@pytest.fixture
def people(app):
    """Twelve subscribers: a…l, mixed status and topics; ids ascend with the letter."""
    with app.app_context():
        ids = {}
        for index, letter in enumerate("abcdefghijkl"):
            status = SubscriberStatus.PENDING if index % 3 == 0 else SubscriberStatus.CONFIRMED
            topics = ("bildung",) if index % 2 else ("innovation", "it")
            ids[letter] = add_subscriber(f"{letter}{letter}@beispiel.de", status, topics)
        return ids


# --- queries ---------------------------------------------------------------

def test_list_pages_newest_first_with_a_cursor_until_the_end(app, people):
    with app.app_context():
        first = services.list_subscribers(limit=5)
        second = services.list_subscribers(limit=5, after=first.next)
        third = services.list_subscribers(limit=5, after=second.next)
    seen = [s.email[0] for s in first.items + second.items + third.items]
    assert seen == list("lkjihgfedcba")
    assert first.next == str(first.items[-1].id)
    assert third.next is None


def test_list_filters_by_status_topic_and_address_prefix(app, people):
    with app.app_context():
        pending = services.list_subscribers(status=SubscriberStatus.PENDING)
        bildung = services.list_subscribers(topic="bildung")
        both = services.list_subscribers(topic="innovation", status=SubscriberStatus.PENDING)
        found = services.list_subscribers(q=" CC@ ")
        assert {s.email[0] for s in pending.items} == set("adgj")
        assert {s.email[0] for s in bildung.items} == set("bdfhjl")
        assert {s.email[0] for s in both.items} == set("ag")
        assert [s.email for s in found.items] == ["cc@beispiel.de"]


def test_search_treats_like_wildcards_as_plain_characters(app, people):
    with app.app_context():
        add_subscriber("a_b@beispiel.de")
        assert [s.email for s in services.list_subscribers(q="a_").items] == ["a_b@beispiel.de"]
        assert services.list_subscribers(q="%").items == []


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "١٢", "9" * 30])
def test_a_bad_cursor_is_a_german_400(app, cursor):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        services.list_subscribers(after=cursor)
    assert caught.value.status == 400
    assert "Cursor" in caught.value.message


def test_an_unknown_topic_is_a_german_400(app):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        services.list_subscribers(topic="kochen")
    assert caught.value.status == 400
    assert "Unbekanntes Thema" in caught.value.message


def test_detail_carries_the_consent_history(app, people):
    with app.app_context():
        detail = services.subscriber_detail(services.get_subscriber(people["b"]))
    assert detail["email"] == "bb@beispiel.de"
    assert detail["topics"] == ["bildung"]
    assert detail["status"] == "confirmed"
    [event] = detail["consent_history"]
    assert event["action"] == "requested"
    assert event["ip"] == "192.0.2.7"
    assert event["consent_text_version"] == "abc123"
    assert event["at"].endswith("+00:00")


def test_erase_removes_personal_data_and_keeps_a_hashed_suppression(app, people):
    with app.app_context():
        campaign = Campaign(subject="Ausgabe 1")
        db.session.add(campaign)
        db.session.flush()
        db.session.add(Delivery(campaign_id=campaign.id, subscriber_id=people["b"]))
        db.session.commit()
        services.erase_subscriber(db.session.get(Subscriber, people["b"]))
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Subscriber, people["b"]) is None
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent).where(
            ConsentEvent.subscriber_id == people["b"])) == 0
        delivery = db.session.scalar(select(Delivery))
        assert delivery.subscriber_id is None
        suppression = db.session.scalar(select(Suppression))
        assert suppression.email_hash == address_hash("bb@beispiel.de")
        assert suppression.reason == "erased"
        assert services.is_suppressed("bb@beispiel.de")


def test_get_subscriber_that_is_gone_is_404(app):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        services.get_subscriber(4711)
    assert caught.value.status == 404
