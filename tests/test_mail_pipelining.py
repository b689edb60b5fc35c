"""The transport's mail transaction with and without RFC 2920 PIPELINING: the same
outcomes either way (taken, refused, deferred, the connection kept), one write for
MAIL, RCPT and DATA when the server offers it, and dot-stuffing done right."""

import smtplib
import socket
import threading
from email import message_from_bytes

import pytest

from owlmail.mail.dkim import DkimSigner, load_private_key
from owlmail.mail.transport import Deferred, Refused, SmtpConnection, dot_stuffed
from tests.support import dkim as test_dkim
from tests.support.smtp import SmtpServer

MESSAGE = (b"From: OWL morgen <newsletter@owl-morgen.de>\r\nTo: anna@example.org\r\n"
           b"Subject: Punkte\r\nMessage-ID: <1@owl-morgen.de>\r\n\r\n"
           b"Erste Zeile\r\n.Zeile mit Punkt\r\n..zwei Punkte\r\n.\r\nEnde\r\n")


def connection(port: int, signer: DkimSigner | None = None) -> SmtpConnection:
    return SmtpConnection({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                           "MAIL_USE_TLS": False, "MAIL_USE_SSL": False,
                           "MAIL_USERNAME": None, "MAIL_PASSWORD": None,
                           "MAIL_TIMEOUT": 5}, signer)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def server(request):
    server = SmtpServer(pipelining=request.param).start()
    yield server
    server.stop()


def test_outcomes_are_the_same_with_and_without_pipelining(server):
    server.handler.refuse["weg@example.org"] = "550 5.1.1 no such user"
    server.handler.refuse["voll@example.org"] = "452 4.2.2 mailbox full"
    signer = DkimSigner(test_dkim.DOMAIN, test_dkim.SELECTOR,
                        load_private_key(test_dkim.KEY_FILE))
    smtp = connection(server.port, signer)
    try:
        smtp.send("bounce@owl-morgen.de", ["anna@example.org"], MESSAGE, "1")
        with pytest.raises(Refused) as refused:
            smtp.send("bounce@owl-morgen.de", ["weg@example.org"], MESSAGE, "2")
        with pytest.raises(Deferred) as deferred:
            smtp.send("bounce@owl-morgen.de", ["voll@example.org"], MESSAGE, "3")
        assert smtp.is_open  # a refused recipient does not cost the connection
        smtp.send("bounce@owl-morgen.de", ["ben@example.org"], MESSAGE, "4")
    finally:
        smtp.close()
    assert (refused.value.code, deferred.value.code) == (550, 452)
    assert [r.recipients for r in server.received] == [["anna@example.org"],
                                                       ["ben@example.org"]]
    assert server.handler.unsigned == 0  # signed on both paths, and verified by the server
    for received in server.received:  # the lines with dots arrive as they were written
        body = message_from_bytes(received.data).get_payload()
        assert body == "Erste Zeile\r\n.Zeile mit Punkt\r\n..zwei Punkte\r\n.\r\nEnde\r\n"


def test_a_refused_sender_ends_the_transaction_and_the_next_mail_goes_through(server):
    smtp = connection(server.port)
    try:
        with pytest.raises(Refused):
            smtp.send("kaputt@@owl-morgen.de", ["anna@example.org"], MESSAGE, "1")
        smtp.send("bounce@owl-morgen.de", ["anna@example.org"], MESSAGE, "2")
    finally:
        smtp.close()
    assert len(server.received) == 1


class ScriptedServer:
    """Answers one pipelined transaction and records each chunk it read."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.chunks: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_until(self, conn: socket.socket, end: bytes) -> bytes:
        data = b""
        while not data.endswith(end):
            chunk = conn.recv(65536)
            if not chunk:
                break
            self.chunks.append(chunk)
            data += chunk
        return data

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.sendall(b"220 scripted ESMTP\r\n")
            self._read_until(conn, b"\r\n")  # EHLO
            conn.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            self.envelope = self._read_until(conn, b"DATA\r\n")
            conn.sendall(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
            self._read_until(conn, b"\r\n.\r\n")
            conn.sendall(b"250 2.0.0 queued\r\n")
            self._read_until(conn, b"\r\n")  # QUIT
            conn.sendall(b"221 Bye\r\n")


def test_mail_rcpt_and_data_go_out_in_one_write_when_the_server_offers_pipelining():
    server = ScriptedServer()
    smtp = connection(server.port)
    try:
        smtp.send("bounce@owl-morgen.de", ["anna@example.org"], MESSAGE, "1")
    finally:
        smtp.close()
    server.thread.join(5)
    envelope = [c for c in server.chunks if c.startswith(b"MAIL FROM")]
    assert envelope == [b"MAIL FROM:<bounce@owl-morgen.de>\r\nRCPT TO:<anna@example.org>\r\n"
                        b"DATA\r\n"]


@pytest.mark.parametrize("raw", [
    b"", b".", b"a\r\n.\r\nb", b".a\r\n..b\r\n.", b"x\n.y\r\n", MESSAGE,
])
def test_dot_stuffing_is_what_smtplib_does(raw):
    assert dot_stuffed(raw) == smtplib._quote_periods(raw)


def test_a_signing_error_after_the_pipelined_envelope_costs_the_session_not_the_next_mail():
    """The server may already wait for data when signing fails: the connection is dropped,
    so the next mail's commands never become part of a message."""

    class Broken:
        def sign(self, message: bytes) -> bytes:
            raise ValueError("key gone")

    server = SmtpServer().start()
    try:
        smtp = connection(server.port, Broken())
        with pytest.raises(ValueError):
            smtp.send("bounce@owl-morgen.de", ["anna@example.org"], MESSAGE, "1")
        assert not smtp.is_open
        smtp.signer = None
        smtp.send("bounce@owl-morgen.de", ["ben@example.org"], MESSAGE, "2")
        smtp.close()
    finally:
        server.stop()
    assert [r.recipients for r in server.received] == [["ben@example.org"]]
    assert b"MAIL FROM" not in server.received[0].data
