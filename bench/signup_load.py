"""Sign-up load as production runs it: gunicorn + a separate worker + a local SMTP sink.

    .venv/bin/python bench/signup_load.py                       # SQLite, then PostgreSQL
    .venv/bin/python bench/signup_load.py --db sqlite --rate 200 --seconds 60
    .venv/bin/python bench/signup_load.py --nginx               # the README's whole recipe

For each database it migrates a fresh database, starts `gunicorn wsgi:app` and
`flask --app owlmail worker` (per-IP limits raised for the run), and an SMTP sink in its
own process. It then measures, in the same run:

1. baseline: GET /healthz at the same rate (the server's floor on this machine);
2. sign-ups: POST /subscribe (a real form with CSRF token and fill-time stamp) at
   --rate per second for --seconds, open loop, each to a new address;

and prints p50/p99 latency, errors, and the delay from sign-up to the confirmation
mail arriving at the sink (p50/p95/max). Targets: p99 < 100 ms, no errors, p95 < 2 s.

With --export it then adds --export-rows subscribers and repeats the sign-ups while an
editor downloads the subscriber export on a slow line (4 KB every 10 ms, one download
after the other for the whole round): sign-up p99 with the export next to the figure
without it, in the same run.

--nginx runs the production recipe of the README instead (tests/support/stack.py: nginx
with TLS in front of gunicorn as deploy/'s unit starts it, PostgreSQL, Redis, the worker)
and sends the sign-ups from --clients distinct loopback addresses, each a visitor keeping
its connection: first straight to gunicorn, then through nginx, same processes, same rate.
"""

import argparse
import html
import http.client
import itertools
import os
import queue
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from ports import free_port, smtp_sink_binary, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.stack, for --nginx
BIN = Path(sys.executable).parent
PG_ADMIN_URI = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "owlmail_bench_signup"


# --- the SMTP sink -----------------------------------------------------------

def run_sink(port: int, out: str) -> None:
    """aiosmtpd, when Postfix's smtp-sink is not installed (`signup_load.py --sink PORT DIR`):
    one file per mail in DIR, like smtp-sink's dumps."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            rcpts = "".join(f"X-Rcpt-Args: <{rcpt}>\n" for rcpt in envelope.rcpt_tos)
            path = Path(out) / f"aiosmtpd.{time.time_ns()}"
            path.write_bytes(rcpts.encode() + envelope.original_content)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def start_sink(port: int, dump: Path, env: dict, workdir: Path) -> tuple[subprocess.Popen, str]:
    """An SMTP sink in its own process that keeps each mail as a file in `dump`; a file's
    modification time is when the mail arrived."""
    dump.mkdir()
    binary = smtp_sink_binary()
    if binary:
        workdir.chmod(0o711)  # smtp-sink drops to nobody when started as root
        dump.chmod(0o777)
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        return start([binary, *user, "-d", f"{dump}/%H%M%S.", f"127.0.0.1:{port}", "1000"],
                     env, workdir / "sink.log"), "Postfix smtp-sink"
    return (start([sys.executable, __file__, "--sink", str(port), str(dump)], env,
                  workdir / "sink.log"),
            "aiosmtpd (install postfix for smtp-sink: aiosmtpd costs more CPU)")


def arrivals(dump: Path) -> dict[str, float]:
    """recipient -> when the first mail for it arrived at the sink."""
    first: dict[str, float] = {}
    for path in dump.iterdir():
        arrived = path.stat().st_mtime
        with path.open("rb") as mail:
            for line in mail:
                if line.startswith(b"X-Rcpt-Args: "):
                    rcpt = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                    first[rcpt] = min(arrived, first.get(rcpt, arrived))
                elif not line.startswith(b"X-"):
                    break
    return first


# --- processes -------------------------------------------------------------


def fresh_database(kind: str, workdir: Path, name: str = PG_BENCH_DB) -> str:
    """An empty database: a new SQLite file in workdir, or PostgreSQL's `name` made anew."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite'}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URI, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


# Per-IP limits raised for the run, forms taken back at once, the outbox polled often.
BENCH_SETTINGS = {
    "OWLMAIL_SUBSCRIBE_RATE_LIMIT": "1000000/minute",
    "OWLMAIL_SUBSCRIBE_ADDRESS_RATE_LIMIT": "1000/minute",
    "OWLMAIL_FORM_MIN_SECONDS": "0",
    "OWLMAIL_OUTBOX_POLL_SECONDS": "0.2",
    "OWLMAIL_OUTBOX_BATCH_SIZE": "200",
}


def app_env(database_uri: str, smtp_port: int, limits: str) -> dict[str, str]:
    return {
        **os.environ,
        "OWLMAIL_SQLALCHEMY_DATABASE_URI": database_uri,
        "OWLMAIL_SECRET_KEY": "bench-secret",
        "OWLMAIL_MAIL_SERVER": "127.0.0.1",
        "OWLMAIL_MAIL_PORT": str(smtp_port),
        "OWLMAIL_RATELIMIT_STORAGE_URI": limits,
        "OWLMAIL_RATELIMIT_KEY_PREFIX": f"owlmail-bench-{os.getpid()}",
        **BENCH_SETTINGS,
    }


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- load ------------------------------------------------------------------------

def visitor(port: int, path: str = "/") -> tuple[str, dict[str, str]]:
    """Open a form page as a visitor: the session cookie and the form's hidden fields."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    page = response.read().decode()
    conn.close()
    fields = hidden_fields(page)
    if "csrf_token" not in fields:
        raise SystemExit("the landing page has no csrf_token field")
    return response.getheader("Set-Cookie", "").split(";")[0], fields


def hidden_fields(page: str) -> dict[str, str]:
    """name -> value of the page's hidden inputs (csrf_token, form_ts, website)."""
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields.setdefault(attrs["name"], html.unescape(attrs.get("value", "")))
    return fields


def signup_body(fields: dict, email: str) -> bytes:
    data = [*fields.items(), ("email", email), ("name", "Bench Müller"),
            ("topics", "bildung"), ("topics", "it"), ("consent", "y")]
    return urllib.parse.urlencode(data).encode()


def http_request(method: str, path: str, cookie: str = "", body: bytes | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: owlmail-bench"]
    if cookie:
        head.append(f"Cookie: {cookie}")
    if body is not None:
        head += ["Content-Type: application/x-www-form-urlencoded",
                 f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


class Pending:
    """One request in flight: what is left to send and what has come back."""

    __slots__ = ("index", "received", "scheduled", "sock", "unsent")

    def __init__(self, index: int, scheduled: float, sock: socket.socket, request: bytes):
        self.index, self.scheduled, self.sock = index, scheduled, sock
        self.unsent, self.received = memoryview(request), bytearray()

    def complete(self) -> bool:
        """The whole response is here (by Content-Length, or the server closed)."""
        head_end = self.received.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.received[:head_end])
        return bool(length) and len(self.received) >= head_end + 4 + int(length[1])

    def status(self) -> int:
        match = re.match(rb"HTTP/1\.[01] (\d{3}) ", self.received)
        return int(match[1]) if match else 0


def _step(selector: selectors.BaseSelector, pending: "Pending", finish) -> None:
    """One ready socket: send more of the request, or read the answer (finish when whole)."""
    try:
        if pending.unsent:
            done = pending.sock.send(pending.unsent)
            pending.unsent = pending.unsent[done:]
            if not pending.unsent:
                selector.modify(pending.sock, selectors.EVENT_READ, pending)
            return
        chunk = pending.sock.recv(65536)
    except OSError:
        finish(pending, 0)
        return
    pending.received += chunk
    if not chunk or pending.complete():
        finish(pending, pending.status() if pending.complete() else 0)


def open_loop(port: int, requests: list[bytes], rate: float, timeout: float = 30):
    """Send requests[i] at t0 + i/rate, each on a new connection (gunicorn's sync workers
    close every connection), from one thread with non-blocking sockets.

    Open loop: latency counts from each request's scheduled start, so a server that
    falls behind shows it. Returns (scheduled, latency, status) per request; status 0 is a
    connection that failed or timed out."""
    selector = selectors.DefaultSelector()
    results: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(requests)
    t0 = time.monotonic() + 0.2
    sent = 0
    in_flight = 0

    def finish(pending: Pending, status: int) -> None:
        nonlocal in_flight
        selector.unregister(pending.sock)
        pending.sock.close()
        in_flight -= 1
        results[pending.index] = (pending.scheduled, time.monotonic() - pending.scheduled,
                                  status)

    while sent < len(requests) or in_flight:
        now = time.monotonic()
        while sent < len(requests) and t0 + sent / rate <= now:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            selector.register(sock, selectors.EVENT_WRITE,
                              Pending(sent, t0 + sent / rate, sock, requests[sent]))
            sent += 1
            in_flight += 1
        wait = (t0 + sent / rate - now) if sent < len(requests) else 0.5
        for key, _events in selector.select(max(wait, 0)):
            _step(selector, key.data, finish)
        now = time.monotonic()
        for key in list(selector.get_map().values()):
            if now - key.data.scheduled > timeout:
                finish(key.data, 0)
    selector.close()
    return results


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report_latency(label: str, results, seconds: float) -> dict:
    latencies = [r[1] * 1000 for r in results]
    errors = sum(1 for r in results if r[2] != 200)
    figures = {"requests": len(results), "per_second": len(results) / seconds,
               "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
               "max_ms": max(latencies), "errors": errors}
    print(f"  {label:<22} {figures['requests']:>6} requests  {figures['per_second']:7.1f}/s  "
          f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
          f"max {figures['max_ms']:7.1f} ms  errors {errors}")
    return figures


# --- an export on a slow line ----------------------------------------------------------

EXPORT_EDITOR = "bench-export@owl-morgen.de"
EXPORT_PASSWORD = secrets.token_urlsafe(16)


def add_people(database_uri: str, count: int) -> None:
    """`count` confirmed subscribers with one consent step each, written in bulk."""
    from sqlalchemy import insert, select

    from owlmail import create_app
    from owlmail.extensions import db
    from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "bench-secret"})
    with app.app_context():
        db.session.execute(insert(Subscriber), [
            {"email": f"leserin{n}@example.net", "email_key": f"leserin{n}@example.net",
             "name": f"Leserin {n}", "status": SubscriberStatus.CONFIRMED} for n in range(count)])
        ids = db.session.scalars(select(Subscriber.id).where(
            Subscriber.email_key.like("leserin%"))).all()
        db.session.execute(insert(ConsentEvent), [
            {"subscriber_id": i, "action": "confirmed", "ip": "192.0.2.1",
             "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
             "source_url": "https://www.owl-morgen.de/newsletter"} for i in ids])
        db.session.commit()
        db.engine.dispose()


def editor_cookie(port: int, env: dict) -> str:
    """Create an editor and log in over HTTP; the session cookie."""
    subprocess.run([str(BIN / "flask"), "--app", "owlmail", "editor", "create", EXPORT_EDITOR],
                   input=EXPORT_PASSWORD + "\n", text=True, cwd=ROOT, env=env, check=True,
                   capture_output=True)
    cookie, fields = visitor(port, "/admin/login")
    body = urllib.parse.urlencode({**fields, "email": EXPORT_EDITOR,
                                   "password": EXPORT_PASSWORD}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/admin/login", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 303:
        raise SystemExit(f"editor login answered {response.status}")
    return response.getheader("Set-Cookie", "").split(";")[0]


class SlowExports(threading.Thread):
    """Downloads the subscriber export again and again on a slow line until stopped."""

    def __init__(self, port: int, cookie: str) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie = port, cookie
        self.stop, self.bytes, self.downloads = threading.Event(), 0, 0

    def run(self) -> None:
        while not self.stop.is_set():
            self._download()

    def _download(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the server cannot run ahead
        sock.sendall(http_request("GET", "/admin/subscribers/export.csv", self.cookie))
        with sock:
            while not self.stop.is_set() and (chunk := sock.recv(4096)):
                self.bytes += len(chunk)
                self.stop.wait(0.01)  # the pace of the line
        self.downloads += 1


def export_round(port: int, env: dict, database_uri: str, signups: list[bytes],
                 rate: float, seconds: float, rows: int) -> dict:
    """The same sign-up load again, while exports of `rows` subscribers download slowly."""
    add_people(database_uri, rows)
    exports = SlowExports(port, editor_cookie(port, env))
    exports.start()
    try:
        results = open_loop(port, signups, rate)
    finally:
        exports.stop.set()
        exports.join(30)
    figures = report_latency("POST /subscribe +export", results, seconds)
    print(f"  export meanwhile:       {exports.bytes / 1e6:.1f} MB read in "
          f"{exports.downloads} slow download(s) of {rows:,} subscribers")
    return figures


# --- CPU -------------------------------------------------------------------------

def _process_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _pids_named(command: str) -> list[int]:
    """The processes running this command (PostgreSQL's backends, the Redis server)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == command:
                pids.append(int(comm.parent.name))
        except OSError:
            continue  # ended meanwhile
    return pids


def cpu_seconds(procs: dict[str, subprocess.Popen], database: str) -> dict[str, float]:
    """CPU used so far by each process of the run (gunicorn: master and workers), the
    servers they talk to (PostgreSQL's backends, Redis) and this load generator."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {name: sum(_process_cpu(p) for p in [proc.pid, *_children(proc.pid)])
               for name, proc in procs.items()}
    if database == "postgres":
        figures["postgres"] = sum(_process_cpu(pid) for pid in _pids_named("postgres"))
    if redis := _pids_named("redis-server"):
        figures["redis"] = sum(_process_cpu(pid) for pid in redis)
    figures["load generator"] = usage.ru_utime + usage.ru_stime
    return figures


def redis_storage(uri: str) -> str:
    """Flask-Limiter's counts in Redis, as in production (all gunicorn workers share them);
    memory:// when no Redis answers there. Nothing is flushed: each run's keys carry a
    prefix of their own (app_env)."""
    parts = urllib.parse.urlsplit(uri)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1):
            return uri
    except OSError:
        return "memory://"


# --- one run -----------------------------------------------------------------------

def run(kind: str, rate: float, seconds: float, web_workers: int,
        gunicorn_args: list[str], redis_uri: str, export_rows: int = 0) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"owlmail-bench-{kind}-"))
    smtp_port, web_port = free_port(), free_port()
    database_uri = fresh_database(kind, workdir)
    limits = redis_storage(redis_uri)
    env = app_env(database_uri, smtp_port, limits)
    flask = [str(BIN / "flask"), "--app", "owlmail"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    dump = workdir / "mails"
    sink, sink_name = start_sink(smtp_port, dump, env, workdir)
    web = start([str(BIN / "gunicorn"), "--workers", str(web_workers), "--bind",
                 f"127.0.0.1:{web_port}", "--log-level", "warning", *gunicorn_args, "wsgi:app"],
                env, workdir / "gunicorn.log")
    worker = start([*flask, "worker"], env, workdir / "worker.log")
    procs = {"gunicorn": web, "worker": worker, "sink": sink}
    try:
        wait_for_port(smtp_port)
        wait_for_port(web_port)
        print(f"\n{kind}: gunicorn x{web_workers} + worker, {rate:.0f}/s for {seconds:.0f} s; "
              f"sink {sink_name}; limits in {limits}")
        visitors = [visitor(web_port) for _ in range(32)]
        base_seconds = min(seconds, 10)
        health = [http_request("GET", "/healthz")] * int(rate * base_seconds)
        base = report_latency("baseline GET /healthz", open_loop(web_port, health, rate),
                              base_seconds)

        emails = [f"bench-{i}@example.org" for i in range(int(rate * seconds))]
        signups = [http_request("POST", "/subscribe", cookie, signup_body(fields, email))
                   for email, (cookie, fields) in zip(
                       emails, itertools.cycle(visitors), strict=False)]
        cpu_before = cpu_seconds(procs, kind)
        results = open_loop(web_port, signups, rate)
        figures = report_latency("POST /subscribe", results, seconds)
        started = {email: scheduled for email, (scheduled, _, status)
                   in zip(emails, results, strict=True) if status == 200}
        delays = wait_for_mail(started, dump)
        cpu_after = cpu_seconds(procs, kind)
        missing = len(started) - len(delays)
        figures.update(mail_p50_s=percentile(delays, 50), mail_p95_s=percentile(delays, 95),
                       mail_max_s=max(delays) if delays else float("nan"), missing=missing,
                       baseline=base)
        print(f"  sign-up -> mail         p50 {figures['mail_p50_s']:.2f} s  "
              f"p95 {figures['mail_p95_s']:.2f} s  max {figures['mail_max_s']:.2f} s  "
              f"not arrived {missing}")
        per_signup = {name: (cpu_after[name] - cpu_before.get(name, 0)) * 1000 / len(results)
                      for name in cpu_after}
        print("  CPU per sign-up (ms):   " + "  ".join(
            f"{name} {ms:.1f}" for name, ms in per_signup.items())
            + f"  = {sum(per_signup.values()):.1f}")
        figures["cpu_ms"] = per_signup
        if export_rows:
            again = [http_request("POST", "/subscribe", cookie, signup_body(fields, email))
                     for email, (cookie, fields) in zip(
                         [f"bench-x-{i}@example.org" for i in range(len(emails))],
                         itertools.cycle(visitors), strict=False)]
            exported = export_round(web_port, env, database_uri, again, rate, seconds,
                                    export_rows)
            figures["with_export"] = exported
            print(f"  sign-up p99 without / with a slow export: {figures['p99_ms']:.1f} ms / "
                  f"{exported['p99_ms']:.1f} ms  (errors {figures['errors']} / "
                  f"{exported['errors']})")
        locked = sum((workdir / log).read_text().count("database is locked")
                     for log in ("gunicorn.log", "worker.log"))
        print(f"  'database is locked' in the logs: {locked}")
        figures["locked"] = locked
        return figures
    finally:
        stop(web)
        stop(worker)
        stop(sink)


def wait_for_mail(started: dict[str, float], dump: Path, timeout: float = 60) -> list[float]:
    """Once every confirmation arrived (or after `timeout`): sign-up -> arrival delays.

    Sign-up times are monotonic, arrivals are file times: both are turned into seconds
    since the epoch through one pair of readings taken now."""
    offset = time.time() - time.monotonic()
    deadline = time.monotonic() + timeout
    while True:
        arrived = arrivals(dump)
        if all(email in arrived for email in started) or time.monotonic() > deadline:
            return [arrived[email] - (at + offset)
                    for email, at in started.items() if email in arrived]
        time.sleep(0.5)


# --- through nginx ------------------------------------------------------------------------

class RawVisitor:
    """One visitor's connection fed finished request bytes, reading only status and
    length: the load generator must cost little CPU next to the server on two cores."""

    def __init__(self, stack, source: str, direct: bool) -> None:
        self.stack, self.source, self.direct = stack, source, direct
        visitor = stack.visitor(source, direct=direct)
        fields = hidden_fields(visitor.get("/").text)
        visitor.close()
        self.fields = fields
        self.head = (f"POST /subscribe HTTP/1.1\r\nHost: {stack.host}\r\n"
                     f"Referer: {stack.url('/')}\r\nUser-Agent: owlmail-bench\r\n"
                     "Cookie: " + "; ".join(f"{k}={v}" for k, v in visitor.cookies.items())
                     + "\r\nContent-Type: application/x-www-form-urlencoded\r\n")
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        port = self.stack.web_port if self.direct else self.stack.https_port
        sock = socket.create_connection(("127.0.0.1", port), 30, (self.source, 0))
        if self.direct:
            return sock
        return self.stack.client_context().wrap_socket(sock, server_hostname=self.stack.name)

    def sign_up(self, email: str) -> int:
        """POST /subscribe; the status (0: no answer). Reconnects once if the kept-alive
        connection was closed meanwhile."""
        body = signup_body(self.fields, email)
        request = (self.head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for _attempt in (1, 2):
            if self.sock is None:
                self.sock = self._connect()
            try:
                self.sock.sendall(request)
                status, close = read_response(self.sock)
            except OSError:
                status, close = 0, True
            if close or not status:
                self.close()
            if status:
                return status
        return 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def read_response(sock: socket.socket) -> tuple[int, bool]:
    """Read one response: (status, whether the server closes the connection)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, True
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    missing = (int(length[1]) if length else 0) - len(rest)
    while missing > 0:
        chunk = sock.recv(min(missing, 65536))
        if not chunk:
            return 0, True
        missing -= len(chunk)
    close = bool(re.search(rb"(?i)\r\nconnection:\s*close", head))
    return int(head[9:12]), close


def visitors_load(visitors: list[RawVisitor], emails: list[str], rate: float) -> list:
    """Open loop from many visitors: sign-up i is due at t0 + i/rate and goes out on the
    next free visitor (each keeps its connection and its form). Latency counts from the
    due time. Returns (due, latency, status) per sign-up; status 0: no answer."""
    jobs: queue.Queue = queue.Queue()
    results: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(emails)

    def client(visitor: RawVisitor) -> None:
        while (job := jobs.get()) is not None:
            index, due = job
            status = visitor.sign_up(emails[index])
            results[index] = (due, time.monotonic() - due, status)

    threads = [threading.Thread(target=client, args=(visitor,)) for visitor in visitors]
    for thread in threads:
        thread.start()
    t0 = time.monotonic() + 0.2
    for index in range(len(emails)):
        time.sleep(max(0.0, t0 + index / rate - time.monotonic()))
        jobs.put((index, t0 + index / rate))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return results


def run_nginx(rate: float, seconds: float, clients: int, database_uri: str,
              redis_uri: str) -> dict:
    """The README's recipe: sign-ups straight to gunicorn, then through nginx."""
    from tests.support.stack import Stack

    workdir = Path(tempfile.mkdtemp(prefix="owlmail-bench-nginx-"))
    smtp_port, dump = free_port(), workdir / "mails"
    sink, sink_name = start_sink(smtp_port, dump, dict(os.environ), workdir)
    mail = {"OWLMAIL_MAIL_SERVER": "127.0.0.1", "OWLMAIL_MAIL_PORT": str(smtp_port),
            "OWLMAIL_MAIL_USE_TLS": "false", "OWLMAIL_MAIL_USERNAME": "",
            "OWLMAIL_MAIL_PASSWORD": ""}  # the sink speaks neither STARTTLS nor AUTH
    sources = [f"127.0.{1 + i // 250}.{2 + i % 250}" for i in range(clients)]
    figures = {}
    try:
        wait_for_port(smtp_port)
        with Stack(database_uri, redis_uri, mail, BENCH_SETTINGS) as stack:
            print(f"\nnginx (TLS) -> gunicorn x3 + worker, PostgreSQL, limits in {redis_uri}; "
                  f"{rate:.0f}/s for {seconds:.0f} s from {clients} addresses; sink {sink_name}")
            for via in ("direct", "nginx"):
                visitors = [RawVisitor(stack, source, via == "direct") for source in sources]
                emails = [f"bench-{via}-{i}@example.org" for i in range(int(rate * seconds))]
                results = visitors_load(visitors, emails, rate)
                label = "gunicorn directly" if via == "direct" else "through nginx"
                figures[via] = report_latency(f"POST /subscribe {label}", results, seconds)
                started = {email: due for email, (due, _, status)
                           in zip(emails, results, strict=True) if status == 200}
                delays = wait_for_mail(started, dump)
                print(f"  sign-up -> mail         p50 {percentile(delays, 50):.2f} s  "
                      f"p95 {percentile(delays, 95):.2f} s  not arrived "
                      f"{len(started) - len(delays)}")
                for visitor in visitors:
                    visitor.close()
    finally:
        stop(sink)
    print(f"  p99 through nginx {figures['nginx']['p99_ms']:.1f} ms, gunicorn directly "
          f"{figures['direct']['p99_ms']:.1f} ms (same run)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--gunicorn-args", default="", help="more gunicorn options, e.g. "
                        "'--worker-class gthread' or '-c profile.py'")
    parser.add_argument("--export", action="store_true", help="then the same sign-ups "
                        "while the subscriber export downloads slowly (p99 next to p99)")
    parser.add_argument("--export-rows", type=int, default=40_000,
                        help="subscribers in that export")
    parser.add_argument("--nginx", action="store_true", help="the README's production "
                        "recipe: nginx with TLS in front, PostgreSQL, Redis")
    parser.add_argument("--clients", type=int, default=64,
                        help="--nginx: distinct client addresses (127.0.0.2, …)")
    parser.add_argument("--database-uri", default=os.environ.get(
        "OWLMAIL_STACK_DATABASE_URI"), help="--nginx: a PostgreSQL database to use (a "
        "schema of its own); default: a fresh owlmail_bench_signup")
    parser.add_argument("--redis-uri", default=os.environ.get(
        "OWLMAIL_STACK_REDIS_URI", "redis://127.0.0.1:6379/15"),
        help="where the limits count (nothing is flushed: keys carry a prefix per run)")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(int(args.sink[0]), args.sink[1])
        return
    if args.nginx:
        database = args.database_uri or fresh_database("postgres", Path(tempfile.gettempdir()))
        run_nginx(args.rate, args.seconds, args.clients, database, args.redis_uri)
        return
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for kind in kinds:
        run(kind, args.rate, args.seconds, args.web_workers, args.gunicorn_args.split(),
            args.redis_uri, args.export_rows if args.export else 0)
    print("\ntargets: p99 < 100 ms, 0 errors, sign-up -> mail p95 < 2 s")


if __name__ == "__main__":
    main()
