"""Persistent SMTP connections for the campaign sender: plain smtplib with pre-built bytes.

Flask-Mail builds a Message per mail, ten times slower than the wire; here a
connection is opened once from Flask-Mail's settings and fed finished bytes.
"""

import contextlib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable

from flask import current_app

from ..mail.dkim import signer_for
from ..mailing.transport import FileTransport, dev_outbox_active

_LEADING_DOT = re.compile(rb"(?m)^\.")


def _plain(address: str) -> str:
    """An envelope address as it goes into MAIL FROM / RCPT TO (never with CR, LF, <>)."""
    if any(ch in address for ch in "\r\n<> "):
        raise Refused(501, f"5.1.3 invalid address {address!r}")
    return address


class ConnectionLost(Exception):
    """The connection broke or the server closed it (421): reconnect, try again later."""


class Deferred(Exception):
    """The server declined this mail for now (4xx); the connection is still fine."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class Refused(Exception):
    """The server refused this mail for good (5xx)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


def _answer(code: int, text: bytes | str) -> Exception:
    """The exception an SMTP reply code stands for."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split())[:450]
    if code == 421 or code < 400:  # the server is going away (or a protocol oddity)
        return ConnectionLost(f"{code} {text}")
    if code < 500:
        return Deferred(code, text)
    return Refused(code, text)


class SmtpConnection:
    """One SMTP session, opened on first use and reopened after it was lost."""

    def __init__(self, settings: dict, signer=None) -> None:
        self.settings = settings
        self.signer = signer
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls) -> "SmtpConnection":
        keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME",
                "MAIL_PASSWORD", "MAIL_TIMEOUT")
        return cls({key: current_app.config.get(key) for key in keys},
                   signer_for(current_app))

    @property
    def is_open(self) -> bool:
        return self._smtp is not None

    def open(self) -> None:
        """Connect (and STARTTLS / log in as configured); ConnectionLost if it fails."""
        s = self.settings
        try:
            if s["MAIL_USE_SSL"]:
                smtp = smtplib.SMTP_SSL(s["MAIL_SERVER"], s["MAIL_PORT"],
                                        timeout=s["MAIL_TIMEOUT"] or 30)
            else:
                smtp = smtplib.SMTP(s["MAIL_SERVER"], s["MAIL_PORT"],
                                    timeout=s["MAIL_TIMEOUT"] or 30)
            if s["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if s["MAIL_USERNAME"]:
                smtp.login(s["MAIL_USERNAME"], s["MAIL_PASSWORD"] or "")
            # The final dot goes out on its own after the message: without NODELAY the
            # kernel would hold it back until the server acknowledged the data.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionLost(f"connect: {exc}") from exc
        self._smtp = smtp

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str,
             before_commit: Callable[[], None] | None = None) -> None:
        """Send one finished message; raises Deferred, Refused or ConnectionLost.

        `before_commit` runs when the whole message is on the wire but before the final
        dot, the moment the server takes it: the caller's previous mail can be recorded
        meanwhile, and a kill before the dot leaves nothing delivered.
        """
        if self.signer is not None:  # in the sender thread: RSA runs outside the GIL
            message = self.signer.sign(message)
        if self._smtp is None:
            self.open()
        smtp = self._smtp
        try:
            smtp.ehlo_or_helo_if_needed()
            self._expect(smtp.docmd("mail", f"FROM:<{_plain(envelope_from)}>"), (250,))
            for recipient in recipients:
                self._expect(smtp.docmd("rcpt", f"TO:<{_plain(recipient)}>"), (250, 251))
            self._expect(smtp.docmd("data"), (354,))
            data = _LEADING_DOT.sub(b"..", message)
            smtp.send(data if data.endswith(b"\r\n") else data + b"\r\n")
            if before_commit is not None:
                before_commit()
            smtp.send(b".\r\n")
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc
        if code != 250:  # the transaction is over either way: no RSET needed
            self._drop_if_closed(code)
            raise _answer(code, text)

    def _expect(self, reply: tuple[int, bytes], good: tuple[int, ...]) -> None:
        """An unexpected reply ends the transaction (RSET) and becomes an exception."""
        code, text = reply
        if code in good:
            return
        self._drop_if_closed(code)
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (OSError, smtplib.SMTPException):
                self.close()
        raise _answer(code, text)

    def _drop_if_closed(self, code: int) -> None:
        if code == 421 or code < 400:
            self.close()

    def close(self) -> None:
        """Say QUIT if the server still listens; forget the session either way."""
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None


class OutboxConnection:
    """The dev outbox (no MAIL_SERVER): each campaign mail becomes an .eml file."""

    is_open = True

    def __init__(self, app) -> None:
        self.app = app

    def open(self) -> None:
        return None

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str,
             before_commit: Callable[[], None] | None = None) -> None:
        if before_commit is not None:
            before_commit()
        with self.app.app_context(), FileTransport() as transport:
            transport.send(envelope_from, recipients, message, ident)

    def close(self) -> None:
        return None


def make_connection() -> SmtpConnection | OutboxConnection:
    """A connection of the kind the configuration asks for (needs an app context)."""
    if dev_outbox_active():
        return OutboxConnection(current_app._get_current_object())
    return SmtpConnection.from_config()
