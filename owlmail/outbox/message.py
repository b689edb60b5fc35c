"""Transactional mails into the outbox: built by the one MIME builder (owlmail.mail.mime),
queued as bytes in the request's transaction, sent after its commit."""

import hashlib
from email.utils import parseaddr
from typing import NamedTuple

from flask import current_app, render_template
from flask_babel import get_locale
from jinja2 import TemplateNotFound
from markupsafe import escape
from sqlalchemy import insert

from ..extensions import db
from ..mail.mime import MailBuilder, idna_address, single_mail
from .models import OutboxMail
from .services import person_hash


def sender_address() -> str:
    """The configured From address (MAIL_DEFAULT_SENDER)."""
    return current_app.config["MAIL_DEFAULT_SENDER"]


class BuiltMail(NamedTuple):
    """A one-off mail's bytes with what the outbox row needs."""

    raw: bytes
    recipient: str
    subject: str


def build_message(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> BuiltMail:
    """A one-off mail: text/plain, or multipart/alternative with `html`; RFC 2047 headers,
    quoted-printable bodies, CRLF. A header value with CR or LF raises ValueError."""
    values = {"From": sender_address(), "Subject": subject}
    if reply_to:
        values["Reply-To"] = reply_to
    raw = single_mail({**values, **(headers or {})}, to, text, html)
    return BuiltMail(raw, idna_address(parseaddr(to)[1]), subject)


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


def queue_mail(mail: BuiltMail, kind: str, envelope_from: str | None = None,
               about: str | None = None) -> None:
    """Put a one-off mail in the outbox, in the caller's transaction (sent after commit)."""
    queue_raw(mail.raw, [mail.recipient], kind, mail.subject, envelope_from, about)


def queue_raw(raw: bytes, recipients: list[str], kind: str, subject: str,
              envelope_from: str | None = None, about: str | None = None) -> None:
    """Put ready-made RFC 5322 bytes (CRLF) in the outbox, in the caller's transaction.

    `about` is the address of the person the mail concerns when that is not the
    recipient (the writer of a contact message); forget_person finds the row by it.
    A plain INSERT on the session's connection: the row is written at once, and
    committed or rolled back with everything else the request did."""
    db.session.connection().execute(insert(OutboxMail.__table__), {
        "kind": kind,
        "envelope_from": envelope_from or parseaddr(sender_address())[1],
        "recipients": ",".join(recipients),
        "subject": subject[:300],
        "message": raw,
        "recipient_hash": ",".join(person_hash(address) for address in recipients),
        "about_hash": person_hash(about or recipients[0]),
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
        self.builder = MailBuilder({"From": sender_address(), "Subject": subject, **headers})

    def build(self, to: str, values: dict[str, str]) -> bytes:
        """RFC 5322 bytes of the mail to `to` with these personal values."""
        text, html = self.text, self.html
        for key in self.filled:
            slot, value = SLOT.format(key), values[key]
            text, html = text.replace(slot, value), html.replace(slot, escape(value))
        return self.builder.build(to, text, html)


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
