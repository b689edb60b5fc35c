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

from flask import current_app, render_template
from flask_babel import get_locale
from jinja2 import TemplateNotFound
from markupsafe import escape
from sqlalchemy import insert

from ..extensions import db
from .models import OutboxMail
from .wire import (
    CRLF,
    DateHeader,
    QuotedPrintable,
    alternative_body,
    encode_address,
    idna_address,
    multipart_head,
    new_boundary,
)


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
    return formataddr((name, idna_address(address)), charset=_UTF8)


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


def queue_mail(msg: Message, kind: str, envelope_from: str | None = None) -> None:
    """Put a message in the outbox, in the caller's transaction (sent after commit)."""
    recipients = [parseaddr(value)[1] for value in msg.get_all("To", [])]
    recipients += [parseaddr(value)[1] for value in msg.get_all("Cc", [])]
    queue_raw(wire_bytes(msg), recipients, kind, str(msg["Subject"]), envelope_from)


def queue_raw(raw: bytes, recipients: list[str], kind: str, subject: str,
              envelope_from: str | None = None) -> None:
    """Put ready-made RFC 5322 bytes (CRLF) in the outbox, in the caller's transaction.

    A plain INSERT on the session's connection: the row is written at once, and
    committed or rolled back with everything else the request did."""
    db.session.connection().execute(insert(OutboxMail.__table__), {
        "kind": kind,
        "envelope_from": envelope_from or parseaddr(sender_address())[1],
        "recipients": ",".join(recipients),
        "subject": subject[:300],
        "message": raw,
    })


# --- transactional mails compiled once ---------------------------------------

SLOT = "\x00{}\x00"  # stands for a personal value while the templates are rendered


class CompiledMail:
    """A transactional mail rendered once per language; per mail only the personal values.

    Rendering two templates and building a MIME tree took about three milliseconds of a
    sign-up request. Here the templates are rendered once with a marker in place of each
    personal value (a name, a link); per mail the markers are replaced, HTML-escaped in
    the HTML part, and only the lines that changed are quoted-printable encoded.
    """

    def __init__(self, template: str, subject: str, fields: list[str], filled: tuple[str, ...],
                 headers: dict[str, str], context: dict) -> None:
        slots = {key: SLOT.format(key) if key in filled else "" for key in fields}
        self.text, self.html = render_mail(template, **context, **slots)
        if self.html is None or any(SLOT.format(key) not in self.text for key in filled):
            raise ValueError(f"email/{template} needs .txt and .html showing {filled}")
        self.filled = filled
        self.domain = _message_id_domain()
        self.boundary = new_boundary()
        self.head = multipart_head({"From": sender_address(), "Subject": subject, **headers},
                                   self.boundary)
        self.date = DateHeader()
        self.text_qp, self.html_qp = QuotedPrintable(), QuotedPrintable()

    def build(self, to: str, values: dict[str, str]) -> bytes:
        """RFC 5322 bytes of the mail to `to` with these personal values."""
        text, html = self.text, self.html
        for key in self.filled:
            slot, value = SLOT.format(key), values[key]
            text, html = text.replace(slot, value), html.replace(slot, escape(value))
        return b"".join((
            b"To: ", encode_address(to), CRLF,
            b"Date: ", self.date.now(), CRLF,
            b"Message-ID: ", make_msgid(domain=self.domain).encode("ascii"), CRLF,
            self.head, CRLF,
            alternative_body(self.boundary, self.text_qp.encode(text),
                             self.html_qp.encode(html)),
        ))


def transactional_mail(template: str, subject: str, to: str, values: dict[str, str], *,
                       headers: dict[str, str], **context) -> bytes:
    """The bytes of templates/email/<template>.{txt,html} for one person.

    `values` are the personal fields (empty ones are left out of the mail, as the
    template's {% if %} says); `context` must be the same for every mail of the
    template, e.g. values from config: the compiled mail is kept per language."""
    filled = tuple(key for key, value in values.items() if value)
    key = (template, str(get_locale() or "de"), filled)
    compiled_mails = current_app.extensions.setdefault("owlmail.compiled_mails", {})
    compiled = compiled_mails.get(key)
    if compiled is None or current_app.debug:  # debug: templates may have changed
        compiled = compiled_mails[key] = CompiledMail(template, subject, list(values), filled,
                                                      headers, context)
    return compiled.build(to, values)


def format_address(name: str, email: str) -> str:
    """A display-name address; the email package quotes and encodes the name safely."""
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=name or "", username=local, domain=domain))
