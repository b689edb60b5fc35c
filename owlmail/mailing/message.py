"""Building transactional mails: German subjects, quoted-printable, CRLF, no long lines."""

import hashlib
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, getaddresses, make_msgid, parseaddr

import idna
from flask import current_app, render_template
from flask_babel import get_locale
from jinja2 import TemplateNotFound

from ..extensions import db
from .models import OutboxMail


def sender_address() -> str:
    """The configured From address (MAIL_DEFAULT_SENDER)."""
    return current_app.config["MAIL_DEFAULT_SENDER"]


ADDRESS_HEADERS = {"from", "to", "cc", "reply-to", "sender"}
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = _UTF8.body_encoding = QP  # readable in any mail client's source view
WIRE = compat32.clone(linesep="\r\n", max_line_length=78)


def build_message(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> Message:
    """A complete RFC 5322 message: RFC 2047 headers, quoted-printable bodies, CRLF.

    Built with the email package's classic MIME classes, which cost a third of the
    modern API per message; header values are checked here instead (no CR/LF).
    """
    text_part = MIMEText(text, "plain", _UTF8, policy=WIRE)
    if html is None:
        msg: Message = text_part
    else:
        msg = MIMEMultipart("alternative", policy=WIRE)
        msg.attach(text_part)
        msg.attach(MIMEText(html, "html", _UTF8, policy=WIRE))
    values = {"From": sender_address(), "To": to, "Subject": subject,
              "Date": formatdate(usegmt=True),
              "Message-ID": make_msgid(domain=_message_id_domain())}
    if reply_to:
        values["Reply-To"] = reply_to
    for name, value in {**values, **(headers or {})}.items():
        msg[name] = encode_header(name, value)
    return msg


def encode_header(name: str, value: str) -> str | Header:
    """A header value safe to put on the wire; CR or LF in it is refused (no injection)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} may not contain a line break")
    if name.lower() in ADDRESS_HEADERS:
        pairs = getaddresses([value])
        if not pairs or any("@" not in address for _, address in pairs):
            raise ValueError(f"header {name} holds no valid address")
        return ", ".join(_encode_address(n, a) for n, a in pairs)
    return value if value.isascii() else Header(value, _UTF8, header_name=name)


def _encode_address(name: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        domain = idna.encode(domain, uts46=True).decode()
    return formataddr((name, f"{local}@{domain}"), charset=_UTF8)


def wire_bytes(msg: Message) -> bytes:
    """The message as SMTP sends it: CRLF line ends, every line under 998 octets."""
    return msg.as_bytes(policy=WIRE)


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
    """Which wording a person received: a hash of the template's sources and the language.

    E.g. "3f2a9c0d1e4b-de"; the language tells the German and English mail apart."""
    known = current_app.extensions.setdefault("owlmail.template_versions", {})
    if template not in known or current_app.debug:
        known[template] = _hash_sources(template)
    return f"{known[template]}-{get_locale() or 'de'}"


def _hash_sources(template: str) -> str:
    loader = current_app.jinja_env.loader
    digest = hashlib.sha256()
    for suffix in ("txt", "html"):
        try:
            source, _, _ = loader.get_source(current_app.jinja_env, f"email/{template}.{suffix}")
        except TemplateNotFound:
            continue
        digest.update(source.encode())
    return digest.hexdigest()[:12]


def queue_mail(msg: Message, kind: str, envelope_from: str | None = None) -> OutboxMail:
    """Put a message in the outbox, in the caller's transaction (sent after commit)."""
    recipients = [parseaddr(value)[1] for value in msg.get_all("To", [])]
    recipients += [parseaddr(value)[1] for value in msg.get_all("Cc", [])]
    row = OutboxMail(
        kind=kind,
        envelope_from=envelope_from or parseaddr(sender_address())[1],
        recipients=",".join(recipients),
        subject=str(msg["Subject"])[:300],
        message=wire_bytes(msg),
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
