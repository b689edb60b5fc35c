"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Tests can make it answer with a chosen code (451, 550, 421) or stop and start it
on the same port to play an outage.
"""

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.dkim import verifies


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes

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
    unsigned: int = 0  # mails that came without a DKIM signature

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


class SmtpServer:
    """aiosmtpd on 127.0.0.1: start(), stop(), and what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> "SmtpServer":
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                      data_size_limit=10 * 1024 * 1024)
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
