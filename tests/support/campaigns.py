"""Helpers for delivery tests: subscribers and campaigns straight in the database."""

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import func, select

from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.delivery.models import Delivery, DeliveryStatus
from owlmail.extensions import db
from owlmail.subscriptions.models import Subscriber, SubscriberStatus, Topic
from owlmail.timeutil import utcnow


def add_subscribers(count: int, *, topics=(), status=SubscriberStatus.CONFIRMED,
                    prefix: str = "leser", name: str = "") -> list[int]:
    """`count` subscribers leser0@example.org … with the given topic slugs; their ids."""
    chosen = list(db.session.scalars(select(Topic).where(Topic.slug.in_(topics))))
    people = []
    for number in range(count):
        email = f"{prefix}{number}@example.org"
        people.append(Subscriber(email=email, email_key=email, name=name, status=status,
                                 topics=chosen, confirmed_at=utcnow()))
    db.session.add_all(people)
    db.session.flush()
    ids = [person.id for person in people]
    db.session.commit()  # and no transaction left open (it would block a worker on SQLite)
    return ids


def add_campaign(*, topics=(), send_at=None, subject="Neues aus OWL",
                 body="Hallo {{ name }}, hier sind die Neuigkeiten.") -> int:
    """A scheduled campaign, due now unless send_at is given; its id."""
    chosen = list(db.session.scalars(select(Topic).where(Topic.slug.in_(topics))))
    campaign = Campaign(subject=subject, body=body, topics=chosen,
                        status=CampaignStatus.SCHEDULED,
                        send_at=send_at or utcnow() - timedelta(seconds=1))
    db.session.add(campaign)
    db.session.flush()
    campaign_id = campaign.id
    db.session.commit()
    return campaign_id


def delivery_counts(campaign_id: int) -> dict[str, int]:
    """How many deliveries of a campaign are in each status."""
    rows = db.session.execute(select(Delivery.status, func.count()).where(
        Delivery.campaign_id == campaign_id).group_by(Delivery.status)).all()
    db.session.commit()
    return {DeliveryStatus(status).value: count for status, count in rows}


def campaign_state(campaign_id: int) -> SimpleNamespace:
    """A snapshot of the campaign as stored now (no transaction left open)."""
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    snapshot = SimpleNamespace(**{column.key: getattr(campaign, column.key)
                                  for column in Campaign.__table__.columns})
    db.session.commit()
    return snapshot
