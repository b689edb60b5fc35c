"""The subscription state machine: pending → confirmed → unsubscribed, with proof."""

import json
import logging
import secrets
import time
from datetime import timedelta
from typing import NamedTuple

from flask import current_app, url_for
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from sqlalchemy import delete, insert, select, update

from ..extensions import db
from ..mailing.message import format_address, queue_raw, transactional_mail
from ..mailing.message import template_version as mail_template_version
from ..timeutil import utcnow
from ..tokens import Purpose, TokenError, load, same_secret, sign
from .addresses import address_hash, ascii_address, normalize_address
from .consent import Evidence
from .models import (
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
    new_token_key,
    subscriber_topics,
)

log = logging.getLogger(__name__)
AUTO_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


# --- reading ---------------------------------------------------------------

def visible_topics() -> list[Topic]:
    """Topics a person may choose, in their display order."""
    query = select(Topic).where(Topic.hidden.is_(False)).order_by(Topic.position, Topic.name)
    return list(db.session.scalars(query))


def topic_choices() -> list[tuple[str, str]]:
    """(slug, name) of the visible topics for forms; cached for TOPIC_CACHE_SECONDS."""
    return [(slug, name) for _, slug, name in _cached_topics()]


def _cached_topics() -> list[tuple[int, str, str]]:
    """(id, slug, name) of the visible topics, read at most every TOPIC_CACHE_SECONDS."""
    cached = current_app.extensions.get("owlmail.topic_choices")
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    topics = [(topic.id, topic.slug, topic.name) for topic in visible_topics()]
    ttl = current_app.config["TOPIC_CACHE_SECONDS"]
    current_app.extensions["owlmail.topic_choices"] = (now + ttl, topics)
    return topics


def topic_label(name: str) -> str:
    """A topic's name in the visitor's language (default topics are in the catalogue)."""
    return _(name) if name else name


def topic_labels(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(value, name) pairs with each name in the visitor's language: topic_label for a
    whole form, with the catalogue looked up once."""
    translate = get_translations().ugettext
    return [(value, translate(name) if name else name) for value, name in choices]


def topics_by_slugs(slugs: list[str]) -> list[Topic]:
    """The visible topics named; no choice means all of them."""
    if not slugs:
        return visible_topics()
    query = select(Topic).where(Topic.hidden.is_(False), Topic.slug.in_(set(slugs)))
    return list(db.session.scalars(query.order_by(Topic.position, Topic.name))) or \
        visible_topics()


def topic_ids_by_slugs(slugs: list[str]) -> list[tuple[int, str]]:
    """(id, slug) of the visible topics named, from the cache; no choice means all."""
    topics = _cached_topics()
    chosen = [(id_, slug) for id_, slug, _ in topics if slug in slugs]
    return chosen or [(id_, slug) for id_, slug, _ in topics]


def find_by_address(email_key: str) -> Subscriber | None:
    return db.session.scalar(select(Subscriber).where(Subscriber.email_key == email_key))


def clean_name(name: str | None) -> str:
    """A display name without control characters (no CR/LF reaches a header)."""
    text = "".join(ch if ch.isprintable() else " " for ch in (name or ""))
    return " ".join(text.split())[:100]


# --- links -----------------------------------------------------------------

def _external(endpoint: str, **values) -> str:
    """An absolute link for a mail, on BASE_URL (never the request's Host header)."""
    return current_app.config["BASE_URL"] + url_for(endpoint, _external=False, **values)


def confirm_url(subscriber: Subscriber) -> str:
    token = sign(Purpose.CONFIRM, [subscriber.id, subscriber.confirm_nonce])
    return _external("subscriptions.confirm", token=token)


def link_token(purpose: Purpose, subscriber: Subscriber) -> str:
    """The lasting token of an unsubscribe or preferences link."""
    return sign(purpose, [subscriber.id, subscriber.token_key])


def unsubscribe_url(subscriber: Subscriber) -> str:
    token = link_token(Purpose.UNSUBSCRIBE, subscriber)
    return _external("subscriptions.unsubscribe", token=token)


def preferences_url(subscriber: Subscriber) -> str:
    token = link_token(Purpose.PREFERENCES, subscriber)
    return _external("subscriptions.preferences", token=token)


# --- consent log -----------------------------------------------------------

def record(subscriber: Subscriber, action: str, evidence: Evidence, **fields) -> ConsentEvent:
    """Append one event to the subscriber's consent history."""
    detail = fields.pop("detail", None)
    event = ConsentEvent(
        subscriber=subscriber, action=action, **_evidence_columns(evidence),
        detail=json.dumps(detail, ensure_ascii=False) if detail else "", **fields,
    )
    db.session.add(event)
    return event


# --- subscribing -----------------------------------------------------------

class SignUp(NamedTuple):
    """What a confirmation or "already subscribed" mail needs of a subscriber."""

    id: int
    email: str
    name: str
    status: SubscriberStatus
    confirm_nonce: str | None
    token_key: str


def request_subscription(
    raw_email: str, name: str | None, topic_slugs: list[str], evidence: Evidence,
    consent_version: str,
) -> SignUp:
    """Handle a sign-up; the caller shows the same page whatever state the address is in.

    The busiest write of the service, so it is written as a few plain statements on
    the session's connection instead of through the ORM's unit of work (a third of
    the cost); the transaction is still the request's, committed by the view."""
    email, key = normalize_address(raw_email)
    conn = db.session.connection()
    subscribers = Subscriber.__table__
    found = conn.execute(select(
        subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.status,
        subscribers.c.confirm_nonce, subscribers.c.token_key,
    ).where(subscribers.c.email_key == key)).first()
    if found and found.status == SubscriberStatus.CONFIRMED:
        _queue_already_subscribed(SignUp(*found))
        return SignUp(*found)
    name, now = clean_name(name), utcnow()
    pending = {"status": SubscriberStatus.PENDING, "requested_at": now}
    if found is None:
        pending.update(email=email, email_key=key, name=name, language=str(get_locale()),
                       confirm_nonce=secrets.token_urlsafe(16), token_key=new_token_key())
        result = conn.execute(insert(subscribers), pending)
        signup = SignUp(result.inserted_primary_key[0], email, name, pending["status"],
                        pending["confirm_nonce"], pending["token_key"])
    else:
        pending.update(name=name or found.name, language=str(get_locale()),
                       confirm_nonce=found.confirm_nonce or secrets.token_urlsafe(16))
        conn.execute(update(subscribers).where(subscribers.c.id == found.id), pending)
        conn.execute(delete(subscriber_topics).where(
            subscriber_topics.c.subscriber_id == found.id))
        signup = SignUp(*found)._replace(status=pending["status"], name=pending["name"],
                                         confirm_nonce=pending["confirm_nonce"])
    topics = topic_ids_by_slugs(topic_slugs)
    if topics:  # an empty parameter list would be one INSERT of defaults
        conn.execute(insert(subscriber_topics), [
            {"subscriber_id": signup.id, "topic_id": topic_id} for topic_id, _ in topics])
    conn.execute(insert(ConsentEvent.__table__), {
        "subscriber_id": signup.id, "action": "requested", **_evidence_columns(evidence),
        "consent_text_version": consent_version,
        "mail_template_version": mail_template_version("confirm"),
        "detail": json.dumps({"topics": [slug for _, slug in topics]}, ensure_ascii=False),
    })
    queue_confirmation(signup)
    db.session.expire_all()  # objects the session may hold no longer match the rows
    return signup


def _evidence_columns(evidence: Evidence) -> dict[str, str | None]:
    return {"ip": evidence.ip, "user_agent": evidence.user_agent,
            "source_url": evidence.source_url}


def start_pending(subscriber: Subscriber, name: str, topics: list[Topic]) -> None:
    """Enter (or stay in) pending: a confirmation link is valid from now on."""
    subscriber.status = SubscriberStatus.PENDING
    subscriber.requested_at = utcnow()
    subscriber.confirm_nonce = subscriber.confirm_nonce or secrets.token_urlsafe(16)
    if name:
        subscriber.name = name
    subscriber.topics = topics


def queue_confirmation(subscriber: Subscriber | SignUp) -> None:
    """The double opt-in mail: a link and nothing else."""
    subject = _("Bitte bestätigen Sie Ihre Anmeldung zum OWL-morgen-Newsletter")
    values = {"name": subscriber.name, "confirm_url": confirm_url(subscriber)}
    _queue_personal(subscriber, "confirm", subject, values,
                    valid_days=current_app.config["CONFIRM_TOKEN_MAX_AGE"] // 86400)


def _queue_already_subscribed(subscriber: SignUp) -> None:
    """A neutral note instead of a second confirmation: the page looks the same."""
    subject = _("Sie erhalten den OWL-morgen-Newsletter bereits")
    values = {"name": subscriber.name, "preferences_url": preferences_url(subscriber),
              "unsubscribe_url": unsubscribe_url(subscriber)}
    _queue_personal(subscriber, "already_subscribed", subject, values)


def _queue_personal(subscriber: Subscriber | SignUp, template: str, subject: str,
                    values: dict[str, str], **context) -> None:
    """A transactional mail to one subscriber into the outbox."""
    address = ascii_address(subscriber.email)
    raw = transactional_mail(template, subject, format_address(subscriber.name, address),
                             values, headers=AUTO_HEADERS, **context)
    kind = "confirm" if template == "confirm" else "already"
    queue_raw(raw, [address], kind, subject)


# --- confirming ------------------------------------------------------------

def subscriber_for_confirmation(token: str) -> Subscriber:
    """The pending subscriber a confirmation token names; TokenError if it cannot be used."""
    payload = load(Purpose.CONFIRM, token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise TokenError.invalid()
    subscriber = db.session.get(Subscriber, payload[0])
    if subscriber is None:
        raise TokenError.invalid()
    if not same_secret(payload[1], subscriber.confirm_nonce):
        raise TokenError.used()  # confirmed already, or replaced by a newer sign-up
    return subscriber


def confirm(token: str, evidence: Evidence) -> Subscriber:
    """Confirm a subscription; the link cannot be used a second time."""
    subscriber = subscriber_for_confirmation(token)
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = utcnow()
    subscriber.unsubscribed_at = None
    subscriber.confirm_nonce = None
    db.session.execute(delete(Suppression).where(
        Suppression.email_hash == address_hash(subscriber.email_key)))
    record(subscriber, "confirmed", evidence)
    return subscriber


# --- managing --------------------------------------------------------------

def subscriber_for_link(purpose: Purpose, token: str) -> Subscriber:
    """The subscriber an unsubscribe/preferences token names (these never expire)."""
    payload = load(purpose, token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise TokenError.invalid()
    subscriber = db.session.get(Subscriber, payload[0])
    if subscriber is None or not same_secret(payload[1], subscriber.token_key):
        raise TokenError.invalid()
    return subscriber


def unsubscribe(subscriber: Subscriber, evidence: Evidence, method: str) -> bool:
    """Leave the list; idempotent. Returns True when this call changed the state."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = utcnow()
    subscriber.confirm_nonce = None
    record(subscriber, "unsubscribed", evidence, detail={"method": method})
    return True


def is_suppressed(email_key: str) -> bool:
    """True when the address was erased, bounced for good or complained."""
    digest = address_hash(email_key)
    return db.session.scalar(
        select(Suppression.id).where(Suppression.email_hash == digest)) is not None


def suppress_address(email_key: str, reason: str) -> None:
    """Keep the address's hash so no import or sign-up list re-adds it unasked
    (reason: erased, hard_bounce, complaint; the first reason stays)."""
    if not is_suppressed(email_key):
        db.session.add(Suppression(email_hash=address_hash(email_key), reason=reason))
        db.session.flush()


def update_preferences(
    subscriber: Subscriber, name: str | None, topic_slugs: list[str], evidence: Evidence
) -> None:
    """Change name and topics; the change is logged like every consent step."""
    subscriber.name = clean_name(name)
    subscriber.topics = topics_by_slugs(topic_slugs)
    subscriber.language = str(get_locale())  # later mails in the language used last
    record(subscriber, "preferences", evidence,
           detail={"topics": [t.slug for t in subscriber.topics]})


# --- housekeeping ----------------------------------------------------------

def purge_unconfirmed() -> int:
    """Scheduled: forget sign-ups never confirmed within PENDING_PURGE_DAYS."""
    cutoff = utcnow() - timedelta(days=current_app.config["PENDING_PURGE_DAYS"])
    stale = select(Subscriber).where(
        Subscriber.status == SubscriberStatus.PENDING, Subscriber.requested_at < cutoff
    )
    count = 0
    for subscriber in db.session.scalars(stale):
        if subscriber.confirmed_at is None:
            db.session.delete(subscriber)  # never agreed: nothing to keep
        else:  # agreed once, left, asked again, did not confirm: back to unsubscribed
            subscriber.status = SubscriberStatus.UNSUBSCRIBED
            subscriber.confirm_nonce = None
            record(subscriber, "purged", Evidence.none("scheduler"))
        count += 1
    db.session.commit()
    if count:
        log.info("purged %s unconfirmed sign-ups", count)
    return count
