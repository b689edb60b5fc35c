"""An editor downloads a large export on a slow line; meanwhile people sign up. On SQLite
the download must not make any of them wait (issue: they got no answer for 10 s)."""

import http.client
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from sqlalchemy import insert, select

from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from owlmail.timeutil import utcnow
from tests.conftest import PG_URI
from tests.support.browser import start_live_server
from tests.support.pages import hidden_fields

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(PG_URI), reason="SQLite's write lock")]

PEOPLE = 30_000  # about 12 MB of CSV: far more than the sockets between them buffer
SIGN_UPS = 30
ANSWER_WITHIN = 5.0  # seconds
SLOW_LINE = 4096  # bytes per read, a read every SLOW_PAUSE seconds: about 400 KB/s
SLOW_PAUSE = 0.01


def add_people(app, count: int) -> None:
    """`count` confirmed subscribers with a consent step each, written in bulk."""
    now = utcnow()
    with app.app_context():
        db.session.execute(insert(Subscriber), [
            {"email": f"leserin{n}@example.org", "email_key": f"leserin{n}@example.org",
             "name": f"Leserin Nummer {n}", "status": SubscriberStatus.CONFIRMED,
             "confirmed_at": now} for n in range(count)])
        ids = db.session.scalars(select(Subscriber.id)).all()
        db.session.execute(insert(ConsentEvent), [
            {"subscriber_id": i, "action": "confirmed", "ip": "192.0.2.1",
             "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
             "source_url": "https://www.owl-morgen.de/newsletter"} for i in ids])
        db.session.commit()


class Browser:
    """One visitor over real HTTP: keeps its session cookie, fills forms as a browser does."""

    def __init__(self, port: int) -> None:
        self.port, self.cookie = port, ""

    def request(self, method: str, path: str, form: dict | None = None,
                receive_buffer: int | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if receive_buffer:  # a slow line: the server cannot run ahead of the reader
            conn.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        body = urllib.parse.urlencode(form, doseq=True) if form is not None else None
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";", 1)[0]
        return response

    def submit(self, page: str, action: str, data: dict) -> int:
        form_page = self.request("GET", page)
        fields = hidden_fields(form_page.read())
        response = self.request("POST", action, {**fields, **data})
        response.read()
        return response.status


def sign_up(port: int, number: int) -> tuple[int, float]:
    started = time.monotonic()
    status = Browser(port).submit("/", "/subscribe", {
        "email": f"neu{number}@example.org", "name": "Neu", "topics": "bildung",
        "consent": "y"})
    return status, time.monotonic() - started


class SlowDownload(threading.Thread):
    """Reads the export in small pieces, slowly, until told to hurry."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        super().__init__(daemon=True)
        self.response, self.hurry, self.body = response, threading.Event(), bytearray()

    def run(self) -> None:
        while chunk := self.response.read(SLOW_LINE):
            self.body += chunk
            self.hurry.wait(SLOW_PAUSE)  # the pace of the line, not a wait for a condition

    def emails(self) -> list[bytes]:
        lines = bytes(self.body).split(b"\r\n")[1:]
        return [line.split(b",", 1)[0] for line in lines if line]


@pytest.fixture
def server(make_app, make_editor):
    app = make_app()
    add_people(app, PEOPLE)
    make_editor("redaktion@owl-morgen.de", role="editor")
    server, thread = start_live_server(app)
    yield server.server_port
    server.shutdown()
    thread.join(5)


def test_sign_ups_are_answered_at_once_while_a_large_export_downloads_slowly(server):
    editor = Browser(server)
    assert editor.submit("/admin/login", "/admin/login", {
        "email": "redaktion@owl-morgen.de", "password": "richtig-langes-passwort"}) == 303
    # A small receive buffer (the 12 MB export cannot run ahead of the reader), but larger
    # than loopback's 64 KB segments: under one segment Linux's sender waits for the
    # zero-window persist timer, which backs off to tens of seconds.
    export = editor.request("GET", "/admin/subscribers/export.csv", receive_buffer=262_144)
    assert export.status == 200
    download = SlowDownload(export)
    download.start()

    pool = ThreadPoolExecutor(max_workers=3)
    try:
        answers = [pool.submit(sign_up, server, n) for n in range(SIGN_UPS)]
        for answer in as_completed(answers):
            status, seconds = answer.result()
            assert status == 200 and seconds < ANSWER_WITHIN, (status, seconds)
    finally:
        pool.shutdown(cancel_futures=True)  # one sign-up that waited is enough to fail
    assert download.is_alive(), "the export ended before the sign-ups: nothing was tested"

    download.hurry.set()
    download.join(60)
    exported = download.emails()
    earlier = [email for email in exported if email.startswith(b"leserin")]
    assert len(earlier) == len(set(earlier)) == PEOPLE  # each once, and nobody lost
    assert len(exported) <= PEOPLE + SIGN_UPS  # those who signed up meanwhile may be in it
