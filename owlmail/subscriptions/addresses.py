"""E-mail addresses: validated by email-validator, IDN domains kept, never mangled."""

import functools
import hashlib

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from ..mail.mime import idna_address


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


def address_hash(email_key: str) -> str:
    """The SHA-256 kept in the suppression list instead of the address."""
    return hashlib.sha256(email_key.encode()).hexdigest()
