"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Tests can make it answer with a chosen code (451, 550, 421) or stop and start it
on the same port to play an outage. Like a production relay it can demand STARTTLS
and AUTH (`SmtpServer(tls_context=..., auth={"user": "password"})`), or speak SMTPS
(`implicit_tls=True`); certificates come from tests/support/tls.py.
"""

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.dkim import verifies


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes
    at: float = field(default_factory=time.monotonic)  # when the server took it

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    # Queued answers: each RCPT TO takes the next one ("250 OK" when empty).
    rcpt_answers: list[str] = field(default_factory=list)
    # A fixed answer for every RCPT TO to an address (e.g. "550 5.1.1 no such user").
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Each AUTH the client tried: (login, whether the session was inside TLS).
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    unsigned: int = 0  # mails that came without a DKIM signature
    pipelining: bool = True  # offered in EHLO, as Postfix, Exim and the big relays do

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands one by one: pipelined ones work
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            answer = self.refuse.get(address) or (
                self.rcpt_answers.pop(0) if self.rcpt_answers else None)
        if answer and not answer.startswith("2"):
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        signed = data.startswith(b"DKIM-Signature:")
        if signed and not verifies(data):  # every signed mail of the suite is checked
            return "550 5.7.20 DKIM signature does not verify"
        with self.lock:
            self.unsigned += not signed
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Authenticator:
    """Accepts the configured logins; records every attempt in the handler."""

    def __init__(self, handler: RecordingHandler, logins: dict[str, str],
                 implicit_tls: bool) -> None:
        self.handler, self.logins, self.implicit_tls = handler, logins, implicit_tls

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.handler.lock:
            inside_tls = self.implicit_tls or session.ssl is not None
            self.handler.auth_attempts.append((login, inside_tls))
        return AuthResult(success=self.logins.get(login) == password)


class SmtpServer:
    """aiosmtpd on 127.0.0.1: start(), stop(), and what it received.

    tls_context: offer STARTTLS and demand it before MAIL FROM (or, with implicit_tls,
    speak TLS from the first byte, SMTPS). auth: logins to accept; AUTH is then required,
    and offered only inside TLS unless auth_over_plain_text is True (a careless relay).
    pipelining=False: a server without RFC 2920 (the client then waits for each reply)."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None,
                 implicit_tls: bool = False, auth: dict[str, str] | None = None,
                 auth_over_plain_text: bool = False, pipelining: bool = True) -> None:
        self.port = free_port()
        self.handler = RecordingHandler(pipelining=pipelining)
        self.tls_context, self.implicit_tls = tls_context, implicit_tls
        self.auth, self.auth_over_plain_text = auth, auth_over_plain_text
        self._controller: Controller | None = None

    def _options(self) -> dict:
        options: dict = {}
        if self.tls_context is not None and self.implicit_tls:
            options["ssl_context"] = self.tls_context
        elif self.tls_context is not None:
            options.update(tls_context=self.tls_context, require_starttls=True)
        if self.auth is not None:
            # aiosmtpd counts only STARTTLS as TLS: over SMTPS AUTH must be allowed "without"
            plain_ok = self.auth_over_plain_text or self.implicit_tls
            options.update(authenticator=Authenticator(self.handler, self.auth, self.implicit_tls),
                           auth_required=True, auth_require_tls=not plain_ok)
        return options

    def start(self) -> "SmtpServer":
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                      data_size_limit=10 * 1024 * 1024,
                                      **self._options())
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.recipients]

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        with self.handler.lock:
            return list(self.handler.auth_attempts)


class SilentServer:
    """Accepts TCP connections and never says a word (a relay that hangs)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)  # the kernel completes the handshakes; nobody ever accepts
        self.port = self._sock.getsockname()[1]

    def stop(self) -> None:
        self._sock.close()
