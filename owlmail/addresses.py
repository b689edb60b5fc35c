"""E-mail addresses: validated by email-validator, IDN domains kept, never mangled."""

import functools
import hashlib
import hmac
import sqlite3

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import LargeBinary, func, literal

from .mail.mime import idna_address


class InvalidAddress(ValueError):
    """An address we cannot accept; the message is German and says why."""


@functools.lru_cache(maxsize=1024)  # a sign-up checks the same address three times
def normalize_address(raw: str) -> tuple[str, str]:
    """(address for display, key for uniqueness); raises InvalidAddress."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 254:
        raise InvalidAddress(_("Bitte geben Sie eine gültige E-Mail-Adresse an."))
    if not raw.partition("@")[0].isascii():
        # Sending to such a mailbox needs SMTPUTF8 end to end; say so instead of mangling it.
        raise InvalidAddress(_("Adressen mit Umlauten oder Sonderzeichen vor dem @ können wir "
                               "leider nicht beliefern. Bitte nutzen Sie eine andere Adresse."))
    try:
        result = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise InvalidAddress(_("Bitte geben Sie eine gültige E-Mail-Adresse an."))
    return result.normalized, result.ascii_email.lower()


def ascii_address(email: str) -> str:
    """The address with its domain in IDNA (xn--) form, as SMTP needs it."""
    return email if email.isascii() else idna_address(email)


def _suppression_key() -> bytes:
    return str(current_app.config["SUPPRESSION_KEY"]).encode()  # OWLMAIL_* may parse as JSON


def address_hash(email_key: str) -> str:
    """The keyed hash (HMAC-SHA256 with SUPPRESSION_KEY) kept in the suppression list
    instead of the address: without the key it cannot be guessed back."""
    return hmac.new(_suppression_key(), email_key.encode(), hashlib.sha256).hexdigest()


def unkeyed_hash(email_key: str) -> str:
    """The plain SHA-256 older suppression rows were stored under (see migration 0004)."""
    return hashlib.sha256(email_key.encode()).hexdigest()


def address_hash_sql(session, column):
    """address_hash of a column computed inside the database (the audience insert)."""
    key = _suppression_key()
    if session.get_bind().dialect.name == "sqlite":
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.create_function("owl_address_hash", 1, _keyed(key), deterministic=True)
        return func.owl_address_hash(column)
    inner, outer = _hmac_pads(key)
    message = literal(inner, LargeBinary).op("||")(func.convert_to(column, "UTF8"))
    digest = func.sha256(literal(outer, LargeBinary).op("||")(func.sha256(message)))
    return func.encode(digest, "hex")


def _keyed(key: bytes):
    """address_hash for SQLite's registered function (no app context needed there)."""
    return lambda value: hmac.new(key, (value or "").encode(), hashlib.sha256).hexdigest()


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's two padded keys (RFC 2104): PostgreSQL composes HMAC from sha256() alone."""
    block = 64  # SHA-256's block size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
