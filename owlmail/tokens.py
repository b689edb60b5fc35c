"""Signed tokens for public links: one salt and one lifetime per purpose."""

import hmac
from enum import StrEnum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(StrEnum):
    CONFIRM = "owlmail.confirm"
    UNSUBSCRIBE = "owlmail.unsubscribe"
    PREFERENCES = "owlmail.preferences"
    FORM_TIME = "owlmail.form-time"
    BOUNCE = "owlmail.bounce"
    PASSWORD_RESET = "owlmail.password-reset"  # noqa: S105  (a salt, not a password)


class TokenError(Exception):
    """A token that cannot be honoured; `reason` says why, for the page shown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @classmethod
    def invalid(cls) -> "TokenError":
        return cls("invalid")

    @classmethod
    def expired(cls) -> "TokenError":
        return cls("expired")

    @classmethod
    def used(cls) -> "TokenError":
        return cls("used")


def _max_age(purpose: Purpose) -> int | None:
    """Seconds a token of this purpose lives; None means it does not expire."""
    config = current_app.config
    return {
        Purpose.CONFIRM: config["CONFIRM_TOKEN_MAX_AGE"],
        Purpose.FORM_TIME: config["FORM_MAX_AGE_SECONDS"],
        Purpose.PASSWORD_RESET: config["PASSWORD_RESET_MAX_AGE"],
    }.get(purpose)


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    config = current_app.config
    # itsdangerous signs with the last key and accepts all of them: rotation.
    keys = [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=str(purpose))


def sign(purpose: Purpose, payload: object) -> str:
    """A URL-safe signed token carrying payload for one purpose."""
    return _serializer(purpose).dumps(payload)


def load(purpose: Purpose, token: str) -> object:
    """The payload of a token, or TokenError.invalid()/expired()."""
    try:
        return _serializer(purpose).loads(token, max_age=_max_age(purpose))
    except SignatureExpired:
        raise TokenError.expired()
    except BadSignature:
        raise TokenError.invalid()


def load_with_age(purpose: Purpose, token: str) -> tuple[object, float]:
    """The payload and the token's age in seconds (for the form fill-time check)."""
    try:
        payload, signed_at = _serializer(purpose).loads(
            token, max_age=_max_age(purpose), return_timestamp=True
        )
    except SignatureExpired:
        raise TokenError.expired()
    except BadSignature:
        raise TokenError.invalid()
    from datetime import UTC, datetime

    return payload, (datetime.now(UTC) - signed_at).total_seconds()


def same_secret(given: object, stored: str | None) -> bool:
    """Constant-time comparison of a token's secret part with the stored one."""
    return isinstance(given, str) and stored is not None and hmac.compare_digest(given, stored)
