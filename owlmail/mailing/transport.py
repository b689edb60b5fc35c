"""Where mail physically goes: an SMTP server, or the dev outbox folder."""

import contextlib
import smtplib
from pathlib import Path

from flask import current_app

from ..extensions import mail
from ..mail.dkim import signer_for
from ..timeutil import utcnow


class TemporaryFailure(Exception):
    """The server could not take the mail now (4xx, dropped connection): try again."""


class MessageDeferred(Exception):
    """This one message was deferred (4xx for it); the connection is still usable."""


class PermanentFailure(Exception):
    """The server refused the mail for good (5xx)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def outbox_dir() -> Path:
    """The folder the dev outbox writes to."""
    return Path(current_app.instance_path) / "outbox"


def dev_outbox_active() -> bool:
    """True when no SMTP server is configured: mail lands in instance/outbox/."""
    return not current_app.config.get("MAIL_SERVER")


class FileTransport:
    """Writes each message to instance/outbox/ as an .eml file (no SMTP configured)."""

    def __enter__(self) -> "FileTransport":
        outbox_dir().mkdir(parents=True, exist_ok=True)
        self.signer = signer_for(current_app)
        return self

    def __exit__(self, *exc) -> None:
        return None

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str) -> None:
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{ident}.eml"
        path = outbox_dir() / name
        path.write_bytes(self.signer.sign(message) if self.signer else message)


class SmtpTransport:
    """One persistent SMTP connection configured by Flask-Mail's settings."""

    def __init__(self) -> None:
        self._connection = None
        self.signer = signer_for(current_app)

    def __enter__(self) -> "SmtpTransport":
        try:
            self._connection = mail.connect()
            self._connection.__enter__()
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"connect: {exc}") from exc
        return self

    def __exit__(self, *exc) -> None:
        # If the server went away there is nothing left to close cleanly.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._connection.__exit__(None, None, None)

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str) -> None:
        if self.signer:
            message = self.signer.sign(message)
        try:
            refused = self._connection.host.sendmail(envelope_from, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text) from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(str(exc)) from exc
        if refused:  # some recipients refused, others accepted: report the first refusal
            code, text = next(iter(refused.values()))
            raise _classify(code, text)


def _classify(code: int, text: bytes | str) -> Exception:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if 500 <= code < 600:
        return PermanentFailure(code, text)
    if code == 421:  # the server is closing the connection
        return TemporaryFailure(f"{code} {text}")
    return MessageDeferred(f"{code} {text}")


def open_transport() -> FileTransport | SmtpTransport:
    """The transport the configuration asks for."""
    return FileTransport() if dev_outbox_active() else SmtpTransport()
