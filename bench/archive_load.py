"""The public archive under a crowd, next to the landing page, in one run.

    .venv/bin/python bench/archive_load.py                      # SQLite, 8 and 32 clients
    .venv/bin/python bench/archive_load.py --seconds 20 --clients 8 32 64
    .venv/bin/python bench/archive_load.py \
        --database-uri postgresql+psycopg://postgres@127.0.0.1:5432/owlmail_bench_archive

It migrates a fresh database, stores one sent public campaign written from the
Digitalgipfel template (its archive copy rendered once, as when sending starts), starts
`gunicorn wsgi:app` with 3 sync workers and then, for each number of clients, measures
for --seconds each: the landing page `/`, the archive page `/archive/<slug>`, the feed
`/archive/feed.xml`, and the archive page asked conditionally (`If-None-Match`, as a
browser or proxy revalidates: 304). Closed loop: each client sends its next request as
soon as the last answer is complete, from one thread with non-blocking sockets (so the
load generator costs little CPU next to the server). It prints requests/s, p50/p99,
errors, and each page's rate as a share of the landing page's.
Targets: archive page ≥ 0.8 of the landing page's rate, p99 < 100 ms.
"""

import argparse
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ports import free_port, wait_for_port
from signup_load import start, stop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SLUG = "digitalgipfel-owl-ergebnisse"


# --- the server -------------------------------------------------------------------

def server_env(database_uri: str) -> dict[str, str]:
    return {**os.environ, "OWLMAIL_SQLALCHEMY_DATABASE_URI": database_uri,
            "OWLMAIL_SECRET_KEY": "bench-secret", "OWLMAIL_RATELIMIT_ENABLED": "false"}


def prepare(database_uri: str, workdir: Path) -> None:
    """Migrate, then one sent public campaign with its archive copy."""
    env = server_env(database_uri)
    subprocess.run([BIN / "flask", "--app", "owlmail", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    seed = (
        "from owlmail import create_app\n"
        "from owlmail.campaigns import archive\n"
        "from owlmail.campaigns.models import Campaign, CampaignStatus\n"
        "from owlmail.campaigns.rendering import TEMPLATES\n"
        "from owlmail.extensions import db\n"
        "from owlmail.timeutil import utcnow\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    body = TEMPLATES['digitalgipfel'].skeleton(app.config)\n"
        "    c = Campaign(subject='Digitalgipfel OWL – Ergebnisse', preheader='Was bleibt',\n"
        "                 body=body, template='digitalgipfel', status=CampaignStatus.SENT,\n"
        f"                 public=True, slug={SLUG!r}, send_at=utcnow(),\n"
        "                 started_at=utcnow(), finished_at=utcnow())\n"
        "    db.session.add(c); db.session.flush(); archive.publish(c); db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", seed], cwd=ROOT, env=env, check=True)


def start_gunicorn(database_uri: str, port: int, workdir: Path) -> subprocess.Popen:
    cmd = [str(BIN / "gunicorn"), "--workers", "3", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    proc = start(cmd, server_env(database_uri), workdir / "gunicorn.log")
    wait_for_port(port)
    return proc


# --- the load ---------------------------------------------------------------------

class Slot:
    """One client: a request in flight on its own connection (gunicorn's sync workers
    close it after each answer, so the answer is complete at end of file)."""

    __slots__ = ("received", "sock", "started", "unsent")

    def __init__(self, port: int, request: bytes):
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.started = time.perf_counter()
        self.sock.connect_ex(("127.0.0.1", port))
        self.unsent, self.received = memoryview(request), bytearray()

    def status(self) -> int:
        return int(self.received[9:12]) if self.received[:5] == b"HTTP/" else 0


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    head = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: owlmail-bench",
            "Connection: close", *(f"{key}: {value}" for key, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def step(selector: selectors.BaseSelector, slot: Slot, events: int) -> bool:
    """Send or receive what the socket allows; True when the answer is complete."""
    if events & selectors.EVENT_WRITE and slot.unsent:
        sent = slot.sock.send(slot.unsent)
        slot.unsent = slot.unsent[sent:]
        if not slot.unsent:
            selector.modify(slot.sock, selectors.EVENT_READ, slot)
        return False
    chunk = slot.sock.recv(65536)
    slot.received += chunk
    return not chunk


def run(port: int, request: bytes, clients: int, seconds: float) -> tuple[list[float], int]:
    """Closed loop for `seconds`: (latencies in seconds, errors)."""
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    def launch() -> None:
        slot = Slot(port, request)
        selector.register(slot.sock, selectors.EVENT_WRITE, slot)

    for _ in range(clients):
        launch()
    while selector.get_map():
        for key, events in selector.select(timeout=5):
            slot = key.data
            try:
                done = step(selector, slot, events)
            except OSError:
                done, slot.received = True, bytearray()
            if not done:
                continue
            selector.unregister(slot.sock)
            slot.sock.close()
            latencies.append(time.perf_counter() - slot.started)
            errors += slot.status() not in (200, 304)
            if time.perf_counter() < deadline:
                launch()
    return latencies, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def etag_of(port: int, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_bytes(path, {}))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"etag:"):
            return line.split(b":", 1)[1].strip().decode()
    raise SystemExit(f"{path} answers without an ETag")


def measure(port: int, clients: int, seconds: float, rounds: int) -> None:
    """One row per page at this number of clients. The pages take turns in short rounds,
    so a change in the machine's load (it is shared) falls on all of them alike."""
    page = f"/archive/{SLUG}"
    cases = [("landing /", "/", {}), ("archive page", page, {}),
             ("feed.xml", "/archive/feed.xml", {}),
             ("archive page, If-None-Match (304)", page, {"If-None-Match": etag_of(port, page)})]
    results = {label: ([], 0, 0.0) for label, _, _ in cases}
    for _ in range(rounds):
        for label, path, headers in cases:
            run(port, request_bytes(path, headers), clients, 0.5)  # every worker warm
            started = time.perf_counter()
            latencies, errors = run(port, request_bytes(path, headers), clients,
                                    seconds / rounds)
            took = time.perf_counter() - started
            done, failed, spent = results[label]
            results[label] = (done + latencies, failed + errors, spent + took)
    landing_rate = len(results["landing /"][0]) / results["landing /"][2]
    for label, (latencies, errors, spent) in results.items():
        rate = len(latencies) / spent
        print(f"| {clients} | {label} | {rate:.0f} | {rate / landing_rate:.2f} "
              f"| {percentile(latencies, 0.5) * 1000:.1f} ms "
              f"| {percentile(latencies, 0.99) * 1000:.1f} ms | {errors} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--rounds", type=int, default=5, help="turns each page takes")
    parser.add_argument("--database-uri", help="an empty PostgreSQL database (default SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="owlmail-archive-bench-") as tmp:
        workdir = Path(tmp)
        database_uri = args.database_uri or f"sqlite:///{workdir / 'bench.sqlite'}"
        prepare(database_uri, workdir)
        port = free_port()
        gunicorn = start_gunicorn(database_uri, port, workdir)
        try:
            print(f"gunicorn, 3 sync workers; {args.seconds:.0f} s per row; "
                  f"load average {os.getloadavg()[0]:.1f} at start")
            print("| clients | page | requests/s | share of landing | p50 | p99 | errors |")
            print("|---|---|---|---|---|---|---|")
            for clients in args.clients:
                measure(port, clients, args.seconds, args.rounds)
        finally:
            stop(gunicorn)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
