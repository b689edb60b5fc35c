"""VERP: each recipient's envelope sender names its delivery, so a bounce says whose it is.

    bounce+<delivery id>-<signature>@<BOUNCE_DOMAIN or the sender's domain>

The signature is a short HMAC of the id (lower-case hex: some servers fold the local
part's case), so nobody can forge a bounce that suppresses someone else's address.
"""

import hashlib
import hmac
import re

from flask import current_app

from ..mail.mime import sender_domain

PREFIX = "bounce"
SIGNATURE_LENGTH = 12
_PATTERN = re.compile(rf"^{PREFIX}\+(\d{{1,19}})-([0-9a-f]{{{SIGNATURE_LENGTH}}})@", re.I)


def _signature(key: str, delivery_id: int) -> str:
    digest = hmac.new(key.encode(), f"owlmail.bounce:{delivery_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:SIGNATURE_LENGTH]


def bounce_domain() -> str:
    """BOUNCE_DOMAIN, or the domain of MAIL_DEFAULT_SENDER."""
    config = current_app.config
    return config.get("BOUNCE_DOMAIN") or sender_domain(config["MAIL_DEFAULT_SENDER"])


def verp_address(delivery_id: int, domain: str | None = None) -> str:
    """The envelope sender for one delivery."""
    signature = _signature(current_app.config["SECRET_KEY"], delivery_id)
    return f"{PREFIX}+{delivery_id}-{signature}@{domain or bounce_domain()}"


def parse_verp(address: str) -> int | None:
    """The delivery id a bounce address names, or None if it is not one of ours."""
    match = _PATTERN.match((address or "").strip().strip("<>"))
    if not match:
        return None
    delivery_id, given = int(match.group(1)), match.group(2).lower()
    config = current_app.config
    for key in (config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", [])):
        if hmac.compare_digest(_signature(key, delivery_id), given):
            return delivery_id
    return None
