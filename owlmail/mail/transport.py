"""The one SMTP client of owlmail, used by the outbox and by the campaign engine.

A persistent connection fed finished bytes (building a message object per mail is ten
times slower than the wire). TLS is always verified (`ssl.create_default_context()`,
which honours SSL_CERT_FILE, hostname checked), MAIL_TIMEOUT bounds the connect and every
reply, and the password is only ever sent inside TLS. Every SMTP reply is classified by
one function, `classify_reply`. With DKIM configured every mail is signed here, on its
way out (mail/dkim.py). With DEV_OUTBOX each mail becomes a file instead.
"""

import contextlib
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path

from flask import current_app

from ..timeutil import utcnow
from .dkim import DkimSigner, signer_for

log = logging.getLogger(__name__)

SETTINGS = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME",
            "MAIL_PASSWORD", "MAIL_TIMEOUT")


class ConnectionLost(Exception):
    """The connection broke, could not be made, or the server closed it (421): try later."""


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


class MailNotConfigured(RuntimeError):
    """Neither MAIL_SERVER nor DEV_OUTBOX is set: there is nowhere to send mail to."""


def classify_reply(code: int, text: bytes | str) -> Exception:
    """The exception an SMTP reply that is not a success stands for."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split())[:450]
    if code == 421 or code < 400:  # the server is going away (or a protocol oddity)
        return ConnectionLost(f"{code} {text}")
    if code < 500:
        return Deferred(code, text)
    return Refused(code, text)


_DOT_LINE = re.compile(rb"\n\.")  # starts with a literal: scanned with memchr


def dot_stuffed(message: bytes) -> bytes:
    """The message as DATA carries it: a line that starts with a dot gets a second one
    (RFC 5321 §4.5.2). smtplib's multi-line "^\\." tries every position of a 16 KB mail and was
    a third of a sender thread's time holding the GIL; this takes 5 µs."""
    stuffed = _DOT_LINE.sub(b"\n..", message)
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _plain(address: str) -> str:
    """An envelope address as it goes into MAIL FROM / RCPT TO (ASCII, never with CR, LF,
    <>: an IDN domain arrives as punycode)."""
    if any(ch in address for ch in "\r\n<> ") or not address.isascii():
        raise Refused(501, f"5.1.3 invalid address {address!r}")
    return address


# --- where mail may go -------------------------------------------------------------------

def dev_outbox_active() -> bool:
    """True when DEV_OUTBOX is set: mail lands in instance/outbox/, never on SMTP."""
    return bool(current_app.config.get("DEV_OUTBOX"))


def outbox_dir() -> Path:
    """The folder the dev outbox writes to."""
    return Path(current_app.instance_path) / "outbox"


def require_mail_config(config: Mapping) -> None:
    """Raise MailNotConfigured unless mail can go somewhere (a process that sends calls it)."""
    if not config.get("MAIL_SERVER") and not config.get("DEV_OUTBOX"):
        raise MailNotConfigured(
            "Kein SMTP-Server konfiguriert: Setzen Sie MAIL_SERVER (OWLMAIL_MAIL_SERVER), "
            "oder für die Entwicklung DEV_OUTBOX=true. Es wird keine E-Mail versendet.")


# --- SMTP ----------------------------------------------------------------------------------

class SmtpConnection:
    """One SMTP session, opened on first use and reopened after it was lost."""

    def __init__(self, settings: Mapping, signer: DkimSigner | None = None) -> None:
        self.settings = settings
        self.signer = signer
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls) -> "SmtpConnection":
        """A connection with the app's MAIL_* settings and DKIM key (needs an app context)."""
        return cls({key: current_app.config.get(key) for key in SETTINGS},
                   signer_for(current_app))

    @property
    def is_open(self) -> bool:
        return self._smtp is not None

    @property
    def _where(self) -> str:
        return f"{self.settings['MAIL_SERVER']}:{self.settings['MAIL_PORT']}"

    def open(self) -> None:
        """Connect, STARTTLS and log in as configured; ConnectionLost if anything fails."""
        try:
            smtp = self._connect()
            try:
                self._secure_and_log_in(smtp)
            except BaseException:
                smtp.close()
                raise
        except ssl.SSLError as exc:  # a certificate not trusted, a wrong host name, ...
            log.error("SMTP %s: TLS failed, mail waits until it can be verified: %s",
                      self._where, exc)
            raise ConnectionLost(f"TLS: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionLost(f"connect: {exc}") from exc
        self._smtp = smtp

    def _connect(self) -> smtplib.SMTP:
        """The TCP (or SMTPS) connection; MAIL_TIMEOUT bounds the connect and every reply."""
        s = self.settings
        timeout = s["MAIL_TIMEOUT"] or 30
        if s["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(s["MAIL_SERVER"], s["MAIL_PORT"], timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s["MAIL_SERVER"], s["MAIL_PORT"], timeout=timeout)
        # The final dot goes out on its own after the message: without NODELAY the
        # kernel would hold it back until the server acknowledged the data.
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return smtp

    def _secure_and_log_in(self, smtp: smtplib.SMTP) -> None:
        """STARTTLS (verified) when asked; AUTH only inside TLS, never in plain text."""
        s = self.settings
        if s["MAIL_USE_TLS"] and not s["MAIL_USE_SSL"]:
            # A fresh context each time: SSL_CERT_FILE is read when it is made.
            smtp.starttls(context=ssl.create_default_context())
        if not s["MAIL_USERNAME"]:
            return
        if not (s["MAIL_USE_TLS"] or s["MAIL_USE_SSL"]):
            log.error("SMTP %s: MAIL_USERNAME is set but neither MAIL_USE_TLS nor MAIL_USE_SSL: "
                      "the password is never sent unencrypted; mail waits", self._where)
            raise ConnectionLost("AUTH refused without TLS (set MAIL_USE_TLS or MAIL_USE_SSL)")
        smtp.login(s["MAIL_USERNAME"], s["MAIL_PASSWORD"] or "")

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str,
             before_commit: Callable[[], None] | None = None) -> None:
        """Send one finished message; raises Deferred, Refused or ConnectionLost.

        `before_commit` runs when the whole message is on the wire but before the final
        dot, the moment the server takes it: the caller's previous mail can be recorded
        meanwhile, and a kill before the dot leaves nothing delivered.
        """
        if self._smtp is None:
            self.open()
        smtp = self._smtp
        try:
            smtp.ehlo_or_helo_if_needed()
            if len(recipients) == 1 and smtp.has_extn("pipelining"):
                message = self._pipelined_envelope(smtp, envelope_from, recipients[0], message)
            else:
                message = self._signed(message)
                self._expect(smtp.docmd("mail", f"FROM:<{_plain(envelope_from)}>"), (250,))
                for recipient in recipients:
                    self._expect(smtp.docmd("rcpt", f"TO:<{_plain(recipient)}>"), (250, 251))
                self._expect(smtp.docmd("data"), (354,))
            data = dot_stuffed(message)
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
            raise classify_reply(code, text)

    def _signed(self, message: bytes) -> bytes:
        """With DKIM configured, the message signed (in a sender thread RSA runs outside
        the GIL, so the connections sign in parallel)."""
        return message if self.signer is None else self.signer.sign(message)

    def _pipelined_envelope(self, smtp: smtplib.SMTP, envelope_from: str, recipient: str,
                            message: bytes) -> bytes:
        """MAIL, RCPT and DATA in one write (RFC 2920 PIPELINING, which every relay worth
        the name offers): one round trip instead of three, and the mail is signed while
        the server answers. Returns the (signed) message once the server said 354."""
        smtp.send(b"MAIL FROM:<%b>\r\nRCPT TO:<%b>\r\nDATA\r\n" % (
            _plain(envelope_from).encode("ascii"), _plain(recipient).encode("ascii")))
        try:
            message = self._signed(message)
        except BaseException:  # the server may be waiting for data: that session is lost
            self._abandon()
            raise
        replies = [smtp.getreply() for _ in range(3)]
        expected = ((250,), (250, 251), (354,))
        refused = [reply for reply, good in zip(replies, expected, strict=True)
                   if reply[0] not in good]
        if refused:
            if replies[2][0] == 354:  # waiting for data that must not come: hang up
                self._abandon()
                raise ConnectionLost(f"{refused[0][0]} {refused[0][1]!r} before DATA")
            self._expect(refused[0], ())
        return message

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
        raise classify_reply(code, text)

    def _drop_if_closed(self, code: int) -> None:
        if code == 421 or code < 400:
            self.close()

    def _abandon(self) -> None:
        """Drop the connection without a word (QUIT would become part of a message)."""
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None

    def close(self) -> None:
        """Say QUIT if the server still listens; forget the session either way."""
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None


# --- the dev outbox ------------------------------------------------------------------------

class DevOutboxConnection:
    """DEV_OUTBOX: each mail becomes an .eml file in instance/outbox/, shown at /dev/outbox."""

    is_open = True

    def __init__(self, folder: Path, signer: DkimSigner | None = None) -> None:
        self.folder = folder
        self.signer = signer

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, envelope_from: str, recipients: list[str], message: bytes, ident: str,
             before_commit: Callable[[], None] | None = None) -> None:
        """Write the message to a file named by the time and `ident`."""
        if before_commit is not None:
            before_commit()
        self.open()
        if self.signer is not None:
            message = self.signer.sign(message)
        (self.folder / f"{utcnow():%Y%m%dT%H%M%S%f}-{ident}.eml").write_bytes(message)

    def close(self) -> None:
        return None


def make_connection() -> SmtpConnection | DevOutboxConnection:
    """A connection of the kind the configuration asks for (needs an app context);
    MailNotConfigured when there is none."""
    require_mail_config(current_app.config)
    if dev_outbox_active():
        return DevOutboxConnection(outbox_dir(), signer_for(current_app))
    return SmtpConnection.from_config()
