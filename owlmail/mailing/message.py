"""Building transactional mails: German subjects, quoted-printable, CRLF, no long lines."""

import hashlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app, render_template
from jinja2 import TemplateNotFound

from ..extensions import db
from .models import OutboxMail


def sender_address() -> str:
    """The configured From address (MAIL_DEFAULT_SENDER)."""
    return current_app.config["MAIL_DEFAULT_SENDER"]


def build_message(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A complete RFC 5322 message; the email package encodes every header."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender_address()
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=_message_id_domain())
    if reply_to:
        msg["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def _message_id_domain() -> str:
    """The domain part of Message-IDs: the sender's domain."""
    address = parseaddr(sender_address())[1]
    return address.rpartition("@")[2] or "owl-morgen.de"


def render_mail(template: str, **context) -> tuple[str, str | None]:
    """Render templates/email/<template>.txt and, if present, .html."""
    text = render_template(f"email/{template}.txt", **context)
    try:
        html = render_template(f"email/{template}.html", **context)
    except TemplateNotFound:
        html = None
    return text, html


def template_version(template: str) -> str:
    """A short hash of a mail template's sources: which wording a person received."""
    loader = current_app.jinja_env.loader
    digest = hashlib.sha256()
    for suffix in ("txt", "html"):
        try:
            source, _, _ = loader.get_source(current_app.jinja_env, f"email/{template}.{suffix}")
        except TemplateNotFound:
            continue
        digest.update(source.encode())
    return digest.hexdigest()[:12]


def queue_mail(msg: EmailMessage, kind: str, envelope_from: str | None = None) -> OutboxMail:
    """Put a message in the outbox, in the caller's transaction (sent after commit)."""
    recipients = [parseaddr(value)[1] for value in msg.get_all("To", [])]
    recipients += [parseaddr(value)[1] for value in msg.get_all("Cc", [])]
    row = OutboxMail(
        kind=kind,
        envelope_from=envelope_from or parseaddr(sender_address())[1],
        recipients=",".join(recipients),
        subject=str(msg["Subject"])[:300],
        message=msg.as_bytes(policy=SMTP),
    )
    db.session.add(row)
    return row


def queue_raw(raw: bytes, recipients: list[str], kind: str, subject: str) -> OutboxMail:
    """Put ready-made RFC 5322 bytes (CRLF) in the outbox, e.g. a campaign test copy."""
    row = OutboxMail(
        kind=kind,
        envelope_from=parseaddr(sender_address())[1],
        recipients=",".join(recipients),
        subject=subject[:300],
        message=raw,
    )
    db.session.add(row)
    return row


def format_address(name: str, email: str) -> str:
    """A display-name address; the email package quotes and encodes the name safely."""
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=name or "", username=local, domain=domain))
