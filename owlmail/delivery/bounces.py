"""Bounces and complaints that arrive after a campaign mail was accepted.

The relay accepts a mail, tries the recipient's server later and sends a delivery
status notification (RFC 3464, or a provider's own format) to the envelope sender:
the VERP address `bounce+<delivery id>-<signature>@…` (see verp.py). The mail server
pipes every mail for that address to `flask --app owlmail bounce <recipient>`, which
calls `handle()` here:

- a delivery status notification (RFC 3464) is read by its own fields: `Action: failed`
  with a 5.x.x status is a hard bounce, with a 4.x.x status a soft bounce (the remote
  server gave up, e.g. on a mailbox that stayed full), `Action: delayed` changes nothing;
- other bounce formats go through flufl.bounce's detectors (the ones Mailman uses);
- a hard bounce marks the subscriber bounced and keeps the address's hash off every
  list; soft bounces from SOFT_BOUNCE_LIMIT different campaigns do the same;
- a complaint (an ARF feedback report, RFC 5965) unsubscribes the subscriber and
  suppresses the address — someone who pressed "spam" is not mailed again;
- a temporary failure, an auto-reply or anything unrecognised changes nothing.

The signature decides whose mail it was, so a forged bounce cannot remove anybody.
"""

import email
import email.policy
import email.utils
import logging
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from ..events import EventKind, record_event
from ..extensions import db
from ..subscriptions.consent import Evidence
from ..subscriptions.models import Subscriber
from ..subscriptions.services import mark_bounced, soft_bounce, suppress_address, unsubscribe
from .models import Delivery
from .verp import parse_verp

log = logging.getLogger(__name__)

# Headers a mail server uses to say which address a mail was delivered to.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")


@dataclass(frozen=True)
class Outcome:
    """What one incoming mail did: `kind` is one of bounced, soft_bounce, complaint,
    temporary, ignored; `reason` says why in a line for the mail server's log."""

    kind: str
    reason: str
    delivery_id: int | None = None


def _delivery_id(message: Message, envelope_recipient: str | None) -> int | None:
    candidates = [envelope_recipient] if envelope_recipient else []
    for header in ENVELOPE_HEADERS:
        candidates += [value for value in message.get_all(header, []) if value]
    for candidate in candidates:
        for part in str(candidate).split(","):
            _, address = email.utils.parseaddr(part)
            delivery_id = parse_verp(address)
            if delivery_id is not None:
                return delivery_id
    return None


def is_complaint(message: Message) -> bool:
    """An ARF feedback report (multipart/report; report-type=feedback-report)."""
    return (message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type", "")).lower() == "feedback-report")


def _recipient_blocks(message: Message) -> list[Message]:
    """The per-recipient field blocks of an RFC 3464 report (those with an Action)."""
    blocks = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks += [block for block in part.get_payload() or []
                       if isinstance(block, Message) and block.get("Action")]
    return blocks


@dataclass(frozen=True)
class Verdict:
    """What a DSN says: hard, soft or delayed, with its status and diagnostic."""

    kind: str
    status: str = ""
    diagnostic: str = ""


def dsn_verdict(message: Message) -> Verdict | None:
    """A DSN's verdict from its own fields; None when the mail is no RFC 3464 report."""
    blocks = _recipient_blocks(message)
    if not blocks:
        return None
    failed = [block for block in blocks if str(block["Action"]).strip().lower() == "failed"]
    if not failed:
        return Verdict("delayed")  # delayed, relayed, delivered, expanded: nothing failed
    block = next((b for b in failed if _status(b).startswith("5")), failed[0])
    status = _status(block)
    kind = "soft" if status.startswith("4") else "hard"
    diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())[:250]
    return Verdict(kind, status, diagnostic)


def _status(block: Message) -> str:
    return str(block.get("Status", "")).strip().split(" ")[0][:16]


def handle(raw: bytes, envelope_recipient: str | None = None) -> Outcome:
    """Act on one incoming mail for a VERP address; the caller commits."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    delivery_id = _delivery_id(message, envelope_recipient)
    if delivery_id is None:
        return Outcome("ignored", "no valid VERP address (unsigned, forged or not ours)")
    delivery = db.session.get(Delivery, delivery_id)
    subscriber = (db.session.get(Subscriber, delivery.subscriber_id)
                  if delivery is not None and delivery.subscriber_id is not None else None)
    if subscriber is None:
        return Outcome("ignored", "the delivery or its subscriber is gone", delivery_id)
    if is_complaint(message):
        record_event(delivery.campaign_id, subscriber.id, EventKind.COMPLAINT)
        unsubscribe(subscriber, Evidence.none("bounce"), "complaint")
        suppress_address(subscriber.email_key, "complaint")
        return Outcome("complaint", "feedback report: unsubscribed and suppressed", delivery_id)

    verdict = dsn_verdict(message) or _detected(message, delivery_id)
    return ACTIONS[verdict.kind](subscriber, delivery, verdict)


def _detected(message: Message, delivery_id: int) -> Verdict:
    """flufl.bounce's verdict on a bounce that is not an RFC 3464 report."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on a malformed mail must not lose the rest
        log.exception("bounce detectors failed on the mail for delivery %s", delivery_id)
        return Verdict("unreadable")
    if permanent:
        return Verdict("hard", diagnostic="permanent failure")
    return Verdict("delayed" if temporary else "none")


def _hard(subscriber: Subscriber, delivery: Delivery, verdict: Verdict) -> Outcome:
    record_event(delivery.campaign_id, subscriber.id, EventKind.HARD_BOUNCE, verdict.status)
    dsn = f"{verdict.status} {verdict.diagnostic}".strip() or "permanent failure"
    mark_bounced(subscriber, subscriber.email_key, "bounce",
                 {"campaign": delivery.campaign_id, "dsn": dsn[:300]})
    return Outcome("bounced", "permanent failure: subscriber marked bounced", delivery.id)


def _soft(subscriber: Subscriber, delivery: Delivery, verdict: Verdict) -> Outcome:
    dead = soft_bounce(delivery.campaign_id, subscriber, verdict.status, verdict.diagnostic,
                       "bounce")
    reason = "soft bounce counted" + (": limit reached, subscriber marked bounced"
                                      if dead else "")
    return Outcome("soft_bounce", reason, delivery.id)


def _nothing(reason: str, kind: str = "ignored"):
    def act(_subscriber, delivery: Delivery, _verdict: Verdict) -> Outcome:
        return Outcome(kind, reason, delivery.id)
    return act


ACTIONS = {
    "hard": _hard,
    "soft": _soft,
    "delayed": _nothing("temporary failure: nothing changed", "temporary"),
    "none": _nothing("no failure found (an auto-reply?)"),
    "unreadable": _nothing("the bounce detectors could not read this mail"),
}
