"""What proves consent: the exact text shown, and who agreed from where."""

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from flask import current_app, render_template, request
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .models import ConsentText

CONSENT_TEMPLATE = "subscriptions/_consent_text.html"
TRACKING_TEMPLATE = "subscriptions/_tracking_text.html"  # the separate tracking consent


@dataclass(frozen=True)
class Evidence:
    """Where and how a person acted: stored with every consent event."""

    ip: str | None
    user_agent: str | None
    source_url: str | None

    @classmethod
    def from_request(cls) -> "Evidence":
        return cls(
            ip=_stored_ip(request.remote_addr),
            user_agent=(request.user_agent.string or "")[:500] or None,
            source_url=(request.referrer or request.url)[:500],
        )

    @classmethod
    def none(cls, source: str) -> "Evidence":
        """For actions without a request (import, scheduled jobs)."""
        return cls(ip=None, user_agent=None, source_url=source)


def _stored_ip(ip: str | None) -> str | None:
    """The IP as CONSENT_IP_MODE says: store, truncate (/24, /48) or omit."""
    mode = current_app.config["CONSENT_IP_MODE"]
    if not ip or mode == "omit":
        return None
    if mode == "truncate":
        address = ipaddress.ip_address(ip)
        prefix = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)
    return ip


def consent_text(template: str = CONSENT_TEMPLATE) -> Markup:
    """The consent wording as shown next to the checkbox."""
    return Markup(render_template(template))  # noqa: S704 (our own autoescaped template)


def tracking_version() -> str:
    """The version of the tracking consent's wording shown now (stored like the other)."""
    return current_version(TRACKING_TEMPLATE)


def current_version(template: str = CONSENT_TEMPLATE) -> str:
    """The version of the consent text shown now; stored once per wording, forever."""
    known = current_app.extensions.setdefault("owlmail.consent_versions", {})
    key = (str(get_locale()), current_app.debug, template)
    if key in known and not current_app.debug:
        return known[key]  # seen stored in the database by this process
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", str(consent_text(template)))).strip()
    version = hashlib.sha256(plain.encode()).hexdigest()[:12]
    if db.session.get(ConsentText, version) is None:
        try:
            with db.session.begin_nested():  # a savepoint: a clash undoes only this row
                db.session.add(ConsentText(version=version, text=plain))
        except IntegrityError:
            pass  # another web worker stored the same wording a moment ago
    else:
        known[key] = version
    return version
