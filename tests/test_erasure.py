"""Erasing a person (GDPR): nothing of them stays but the keyed hash that keeps them off
every list; what others need (campaign counts) stays without them."""

from sqlalchemy import func, select

from owlmail.addresses import address_hash
from owlmail.erasure import erase_person
from owlmail.extensions import db
from owlmail.models import (
    Campaign,
    ConsentEvent,
    ContactMessage,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)
from owlmail.subscriptions.consent import Evidence
from owlmail.subscriptions.models import subscriber_topics
from owlmail.subscriptions.services import is_suppressed, record


def _count(table_or_model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(table_or_model).where(*where))


def _person(email: str) -> Subscriber:
    topics = list(db.session.scalars(select(Topic)))
    person = Subscriber(email=email, email_key=email.lower(), name="Anna Müller",
                        status=SubscriberStatus.CONFIRMED, topics=topics)
    db.session.add(person)
    db.session.flush()
    record(person, "requested", Evidence(ip="192.0.2.7", user_agent="Firefox",
                                         source_url="https://owl-morgen.de/"))
    return person


def test_erasure_leaves_nothing_personal_in_any_table(app):
    with app.app_context():
        anna, bert = _person("Anna@Example.org"), _person("bert@example.org")
        campaign = Campaign(subject="Ausgabe 1")
        db.session.add(campaign)
        db.session.flush()
        db.session.add_all([
            Delivery(campaign_id=campaign.id, subscriber_id=anna.id, status=DeliveryStatus.FAILED,
                     smtp_message="5.1.1 <Anna@Example.org>: mailbox unknown"),
            Delivery(campaign_id=campaign.id, subscriber_id=bert.id, smtp_message="4.2.2 voll"),
            ContactMessage(name="Anna", email="Anna@Example.org", message="Hallo, ich bin Anna"),
            ContactMessage(name="Bert", email="bert@example.org", message="Hallo"),
        ])
        db.session.commit()
        anna_id = anna.id
        erase_person(anna)
        db.session.commit()
        db.session.expire_all()

        assert db.session.get(Subscriber, anna_id) is None
        assert _count(subscriber_topics, subscriber_topics.c.subscriber_id == anna_id) == 0
        assert _count(ConsentEvent, ConsentEvent.subscriber_id == anna_id) == 0
        assert _count(ConsentEvent, ConsentEvent.ip == "192.0.2.7") == 1  # Bert's own
        failed = db.session.scalar(select(Delivery).filter_by(status=DeliveryStatus.FAILED))
        assert failed.subscriber_id is None and "anna" not in failed.smtp_message.lower()
        assert _count(Delivery) == 2  # the campaign's counts stay
        assert db.session.scalars(select(ContactMessage.name)).all() == ["Bert"]
        assert db.session.scalar(select(Suppression.email_hash)) == address_hash(
            "anna@example.org")
        assert is_suppressed("anna@example.org")
        assert not is_suppressed("bert@example.org")
