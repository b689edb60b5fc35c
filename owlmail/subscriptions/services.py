"""The subscriber state machine, with proof: pending → confirmed → unsubscribed, and
bounced or erased from any state. Every transition is a function here, called by the
public pages, admin, API, bounce handler and delivery engine alike:

    request_subscription, confirm, unsubscribe, update_preferences, mark_bounced,
    erase (owlmail.erasure adds what other packages keep), suppress_address,
    purge_unconfirmed (scheduled)
"""

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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..addresses import address_hash, ascii_address, normalize_address, unkeyed_hash
from ..events import EventKind, record_event, soft_bounced_campaigns
from ..extensions import db
from ..mail.mime import format_address
from ..outbox.message import queue_raw, transactional_mail
from ..outbox.message import template_version as mail_template_version
from ..text import one_line
from ..timeutil import utcnow
from ..tokens import Purpose, TokenError, load, same_secret, sign
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
# A robot wrote this mail: no out-of-office answers back to it (contact mail too).
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
    return one_line(name, 100)


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
    tracking: bool = False


class TrackingChoice(NamedTuple):
    """The sign-up form's optional tracking consent: ticked or not, and its wording."""

    given: bool = False
    version: str | None = None


NO_TRACKING = TrackingChoice()


def request_subscription(
    raw_email: str, name: str | None, topic_slugs: list[str], evidence: Evidence,
    consent_version: str, tracking: TrackingChoice = NO_TRACKING,
) -> SignUp:
    """Handle a sign-up; the caller shows the same page whatever state the address is in.

    The busiest write of the service, so it is written as a few plain statements on
    the session's connection instead of through the ORM's unit of work (a third of
    the cost); the transaction is still the request's, committed by the view. Two
    sign-ups of one address at once (a double click) do not collide: the row is
    locked while it changes, and an insert that loses the race takes the winner's row."""
    email, key = normalize_address(raw_email)
    conn = db.session.connection()
    name = clean_name(name)
    signup = None
    found = _locked_signup(conn, key)
    if found is None:
        signup = _insert_pending(conn, email, key, name, tracking.given)
        found = None if signup else _locked_signup(conn, key)
    if found is not None and found.status == SubscriberStatus.CONFIRMED:
        _queue_already_subscribed(found)  # tracking changes on the preferences page
        return found
    if found is not None:
        signup = _renew_pending(conn, found, name, tracking.given)
    _log_request(conn, signup, topic_ids_by_slugs(topic_slugs), evidence, consent_version)
    _log_tracking(conn, signup.id, found is not None and found.tracking, tracking, evidence)
    queue_confirmation(signup)
    db.session.expire_all()  # objects the session may hold no longer match the rows
    return signup


_subscribers = Subscriber.__table__
_SIGNUP_COLUMNS = (_subscribers.c.id, _subscribers.c.email, _subscribers.c.name,
                   _subscribers.c.status, _subscribers.c.confirm_nonce, _subscribers.c.token_key,
                   _subscribers.c.tracking)


def _locked_signup(conn, key: str) -> SignUp | None:
    """The subscriber with this address, locked until the transaction ends."""
    row = conn.execute(select(*_SIGNUP_COLUMNS).where(_subscribers.c.email_key == key)
                       .with_for_update()).first()
    return SignUp(*row) if row else None


def _insert_ignoring_conflict(conn):
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(_subscribers).on_conflict_do_nothing(index_elements=["email_key"])


def _insert_pending(conn, email: str, key: str, name: str, tracking: bool) -> SignUp | None:
    """A new pending subscriber; None when the address was inserted meanwhile."""
    values = {"status": SubscriberStatus.PENDING, "requested_at": utcnow(), "email": email,
              "email_key": key, "name": name, "language": str(get_locale()),
              "confirm_nonce": secrets.token_urlsafe(16),
              "token_key": new_token_key(), "tracking": tracking}
    new_id = conn.execute(_insert_ignoring_conflict(conn).values(values)
                          .returning(_subscribers.c.id)).scalar()
    if new_id is None:
        return None
    return SignUp(new_id, email, name, SubscriberStatus.PENDING, values["confirm_nonce"],
                  values["token_key"], tracking)


def _renew_pending(conn, found: SignUp, name: str, tracking: bool) -> SignUp:
    """An existing, not confirmed subscriber asks again: pending, topics and tracking
    consent chosen anew."""
    values = {"status": SubscriberStatus.PENDING, "requested_at": utcnow(),
              "name": name or found.name, "language": str(get_locale()),
              "confirm_nonce": found.confirm_nonce or secrets.token_urlsafe(16),
              "tracking": tracking}
    conn.execute(update(_subscribers).where(_subscribers.c.id == found.id), values)
    conn.execute(delete(subscriber_topics).where(subscriber_topics.c.subscriber_id == found.id))
    return found._replace(status=values["status"], name=values["name"],
                          confirm_nonce=values["confirm_nonce"], tracking=tracking)


def _log_request(conn, signup: SignUp, topics: list[tuple[int, str]], evidence: Evidence,
                 consent_version: str) -> None:
    """The chosen topics and the consent event of this request."""
    if topics:  # an empty parameter list would be one INSERT of defaults
        conn.execute(insert(subscriber_topics), [
            {"subscriber_id": signup.id, "topic_id": topic_id} for topic_id, _ in topics])
    conn.execute(insert(ConsentEvent.__table__), {
        "subscriber_id": signup.id, "action": "requested", **_evidence_columns(evidence),
        "consent_text_version": consent_version,
        "mail_template_version": mail_template_version("confirm"),
        "detail": json.dumps({"topics": [slug for _, slug in topics]}, ensure_ascii=False),
    })


def _log_tracking(conn, subscriber_id: int, before: bool, choice: TrackingChoice,
                  evidence: Evidence) -> None:
    """The tracking consent of a sign-up in the consent log, when given or taken back."""
    if choice.given or before:
        conn.execute(insert(ConsentEvent.__table__), {
            "subscriber_id": subscriber_id, **_evidence_columns(evidence),
            **_tracking_event(choice.given, choice.version), "detail": ""})


def _tracking_event(given: bool, version: str | None) -> dict[str, str | None]:
    return {"action": "tracking_given" if given else "tracking_withdrawn",
            "consent_text_version": version if given else None}


def set_tracking(subscriber: Subscriber, given: bool, version: str | None,
                 evidence: Evidence) -> bool:
    """Give or withdraw the tracking consent (logged); True when it changed. The next mail
    carries the reader's own links, or from now on only the anonymous ones."""
    if bool(subscriber.tracking) == given:
        return False
    subscriber.tracking = given
    event = _tracking_event(given, version)
    record(subscriber, event["action"], evidence,
           consent_text_version=event["consent_text_version"])
    return True


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
        Suppression.email_hash.in_(_hashes(subscriber.email_key))))
    record(subscriber, "confirmed", evidence)
    return subscriber


# --- managing --------------------------------------------------------------

def subscriber_for_link(purpose: Purpose, token: str) -> Subscriber:
    """The subscriber an unsubscribe/preferences token names (these never expire)."""
    return link_holder(purpose, token)[0]


def link_holder(purpose: Purpose, token: str) -> tuple[Subscriber, int | None]:
    """The subscriber a link names, and the campaign whose mail carried it (if any).

    Payload: [subscriber id, token key] from pages and transactional mails, with the
    campaign's id as a third element in campaign mails."""
    payload = load(purpose, token)
    if not (isinstance(payload, list) and len(payload) in (2, 3)
            and all(_is_id(value) for value in payload[::2])):
        raise TokenError.invalid()
    subscriber = db.session.get(Subscriber, payload[0])
    if subscriber is None or not same_secret(payload[1], subscriber.token_key):
        raise TokenError.invalid()
    return subscriber, (payload[2] if len(payload) == 3 else None)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def unsubscribe(subscriber: Subscriber, evidence: Evidence, method: str,
                campaign_id: int | None = None) -> bool:
    """Leave the list; idempotent. Returns True when this call changed the state.
    A campaign's link counts the unsubscribe for that campaign's report."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = utcnow()
    subscriber.confirm_nonce = None
    detail = {"method": method, **({"campaign": campaign_id} if campaign_id else {})}
    record(subscriber, "unsubscribed", evidence, detail=detail)
    record_event(campaign_id, subscriber.id, EventKind.UNSUBSCRIBE)
    return True


def _hashes(email_key: str) -> list[str]:
    """The keyed hash of an address and the plain one older rows may still carry."""
    return [address_hash(email_key), unkeyed_hash(email_key)]


def suppressed_among(email_keys: list[str]) -> set[str]:
    """Those of the addresses on the suppression list (one query for a batch).

    A row still under the plain SHA-256 of before the key is re-keyed on the way: the
    address is known again, so the guessable hash need not stay."""
    if not email_keys:
        return set()
    by_hash = {digest: key for key in email_keys for digest in _hashes(key)}
    rows = db.session.execute(select(Suppression.id, Suppression.email_hash, Suppression.keyed)
                              .where(Suppression.email_hash.in_(by_hash))).all()
    for row in rows:
        if not row.keyed:
            db.session.execute(update(Suppression).where(Suppression.id == row.id).values(
                email_hash=address_hash(by_hash[row.email_hash]), keyed=True))
    return {by_hash[row.email_hash] for row in rows}


def is_suppressed(email_key: str) -> bool:
    """True when the address was erased, bounced for good or complained."""
    return bool(suppressed_among([email_key]))


def suppress_address(email_key: str, reason: str) -> None:
    """Keep the address's keyed hash so no import or sign-up list re-adds it unasked
    (reason: erased, hard_bounce, complaint; the first reason stays)."""
    if not is_suppressed(email_key):
        db.session.add(Suppression(email_hash=address_hash(email_key), reason=reason))
        db.session.flush()


def mark_bounced(subscriber: Subscriber | None, email_key: str, source: str,
                 detail: dict) -> None:
    """A mailbox that will never take mail: keep the address off every list and mark the
    subscriber bounced, once, in the consent log (source: delivery or bounce)."""
    suppress_address(email_key, "hard_bounce")
    if subscriber is not None and subscriber.status != SubscriberStatus.BOUNCED:
        subscriber.status = SubscriberStatus.BOUNCED
        record(subscriber, "bounced", Evidence.none(source), detail=detail)
    db.session.flush()


def soft_bounce(campaign_id: int, subscriber: Subscriber, status: str, diagnostic: str,
                source: str) -> bool:
    """A mail of this campaign could not be delivered for now, and the sending server gave
    up (a full mailbox, a server that kept answering 4xx). Counted once per campaign; from
    SOFT_BOUNCE_LIMIT different campaigns the address is treated as dead: bounced and
    suppressed. Returns True when this made the subscriber bounced."""
    detail = {"campaign": campaign_id, "dsn": f"{status} {diagnostic}".strip()[:300]}
    if not record_event(campaign_id, subscriber.id, EventKind.SOFT_BOUNCE, status):
        return False  # this campaign's soft bounce was counted already
    record(subscriber, "soft_bounce", Evidence.none(source), detail=detail)
    count = soft_bounced_campaigns(subscriber.id)
    if count < current_app.config["SOFT_BOUNCE_LIMIT"] or (
            subscriber.status == SubscriberStatus.BOUNCED):
        return False
    mark_bounced(subscriber, subscriber.email_key, source, {**detail, "soft_bounces": count})
    return True


def erase(subscriber: Subscriber) -> None:
    """GDPR erasure of the subscriber: the row, its topics and its whole consent history
    go (foreign keys cascade); only the keyed hash stays, so no import re-adds the
    address. owlmail.erasure also clears what other packages keep of the person."""
    suppress_address(subscriber.email_key, "erased")
    db.session.delete(subscriber)
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
