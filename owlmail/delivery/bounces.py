"""Bounces and complaints that arrive after a campaign mail was accepted.

The relay accepts a mail, tries the recipient's server later and sends a delivery
status notification (RFC 3464, or a provider's own format) to the envelope sender:
the VERP address `bounce+<delivery id>-<signature>@…` (see verp.py). The mail server
pipes every mail for that address to `flask --app owlmail bounce <recipient>`, which
calls `handle()` here:

- a permanent failure (flufl.bounce's detectors, the same Mailman uses) marks the
  subscriber bounced and keeps the address's hash off every list;
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

from ..extensions import db
from ..subscriptions.consent import Evidence
from ..subscriptions.models import Subscriber
from ..subscriptions.services import mark_bounced, suppress_address, unsubscribe
from .models import Delivery
from .verp import parse_verp

log = logging.getLogger(__name__)

# Headers a mail server uses to say which address a mail was delivered to.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")


@dataclass(frozen=True)
class Outcome:
    """What one incoming mail did: `kind` is one of bounced, complaint, temporary,
    ignored; `reason` says why in a line for the mail server's log."""

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


def _status_line(message: Message) -> str:
    """The first Status/Diagnostic-Code of a DSN, for the consent log's detail."""
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload() or []:
                if isinstance(block, Message) and block.get("Status"):
                    return " ".join(filter(None, (block.get("Status"),
                                                  block.get("Diagnostic-Code"))))[:300]
    return ""


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
        unsubscribe(subscriber, Evidence.none("bounce"), "complaint")
        suppress_address(subscriber.email_key, "complaint")
        return Outcome("complaint", "feedback report: unsubscribed and suppressed", delivery_id)

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on a malformed mail must not lose the rest
        log.exception("bounce detectors failed on the mail for delivery %s", delivery_id)
        return Outcome("ignored", "the bounce detectors could not read this mail", delivery_id)
    if permanent:
        mark_bounced(subscriber, subscriber.email_key, "bounce",
                     {"campaign": delivery.campaign_id,
                      "dsn": _status_line(message) or "permanent failure"})
        return Outcome("bounced", "permanent failure: subscriber marked bounced", delivery_id)
    if temporary:
        return Outcome("temporary", "temporary failure: nothing changed", delivery_id)
    return Outcome("ignored", "no failure found (an auto-reply?)", delivery_id)

