"""Signed tokens for public links: one salt and one lifetime per purpose."""

import base64
import hmac
import json
import re
import time
from datetime import UTC, datetime
from enum import StrEnum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes


class Purpose(StrEnum):
    CONFIRM = "owlmail.confirm"
    UNSUBSCRIBE = "owlmail.unsubscribe"
    PREFERENCES = "owlmail.preferences"
    FORM_TIME = "owlmail.form-time"
    BOUNCE = "owlmail.bounce"
    PASSWORD_RESET = "owlmail.password-reset"  # noqa: S105  (a salt, not a password)
    CLICK = "owlmail.click"
    OPEN = "owlmail.open"


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
    return payload, (datetime.now(UTC) - signed_at).total_seconds()


def same_secret(given: object, stored: str | None) -> bool:
    """Constant-time comparison of a token's secret part with the stored one."""
    return isinstance(given, str) and stored is not None and hmac.compare_digest(given, stored)


class LinkSigner:
    """sign(purpose, payload) for many short payloads, with the key derived once.

    itsdangerous derives its key and tries zlib on every token; per campaign recipient
    that is a fifth of building the mail, so the key is derived once here and the token
    is assembled as itsdangerous does (a test holds both to the same output).
    """

    def __init__(self, purpose: Purpose) -> None:
        self.serializer = _serializer(purpose)
        signer = self.serializer.make_signer()
        self.key = signer.derive_key()
        self.digest = signer.digest_method
        self._second, self._stamp = -1, b""

    def dumps(self, payload: list) -> str:
        """The token sign(purpose, payload) would give in this second."""
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) > 60:  # itsdangerous might compress a longer one: let it decide
            return self.serializer.dumps(payload)
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, base64_encode(int_to_bytes(now))
        value = base64_encode(data) + b"." + self._stamp
        mac = hmac.new(self.key, value, self.digest).digest()
        return (value + b"." + base64_encode(mac)).decode("ascii")


class NumberSigner:
    """Short signed tokens for a few small numbers: "12.3.5nF0…" (the numbers, a dot, and
    a truncated HMAC of them). For the links in campaign mails, which go out in every mail
    and are fetched a thousand times a second: no JSON, no timestamp, no compression.

    The key is derived from SECRET_KEY per purpose (as itsdangerous derives it); tokens
    signed with a key in SECRET_KEY_FALLBACKS are still accepted.
    """

    MAC_BYTES = 12  # 96 bits: 16 characters of base64url
    MAX_LENGTH = 120  # a longer token is none of ours
    _SHAPE = re.compile(r"[0-9]{1,19}(?:\.[0-9]{1,19}){0,3}\.[A-Za-z0-9_-]{16}")

    def __init__(self, purpose: Purpose) -> None:
        config = current_app.config
        keys = [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]
        signer = URLSafeTimedSerializer(keys, salt=str(purpose)).make_signer()
        self.keys = [signer.derive_key(key) for key in reversed(signer.secret_keys)]

    def _mac(self, key: bytes, numbers: str) -> str:
        mac = hmac.digest(key, numbers.encode("ascii"), "sha256")[: self.MAC_BYTES]
        return base64.urlsafe_b64encode(mac).decode("ascii")

    def dumps(self, *numbers: int) -> str:
        """The token for these non-negative numbers."""
        text = ".".join(str(number) for number in numbers)
        return f"{text}.{self._mac(self.keys[0], text)}"

    def loads(self, token: str, count: int | None = None) -> tuple[int, ...]:
        """The numbers of a genuine token (`count` of them, if given); TokenError.invalid()
        for anything else."""
        if not isinstance(token, str) or len(token) > self.MAX_LENGTH \
                or not self._SHAPE.fullmatch(token):
            raise TokenError.invalid()
        text, _, mac = token.rpartition(".")
        parts = text.split(".")
        if count is not None and len(parts) != count:
            raise TokenError.invalid()
        given = mac.encode("ascii")
        if not any(hmac.compare_digest(self._mac(key, text).encode("ascii"), given)
                   for key in self.keys):
            raise TokenError.invalid()
        return tuple(int(part) for part in parts)
