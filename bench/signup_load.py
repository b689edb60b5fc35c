"""Sign-up load as production runs it: gunicorn + a separate worker + a local SMTP sink.

    .venv/bin/python bench/signup_load.py                       # SQLite, then PostgreSQL
    .venv/bin/python bench/signup_load.py --db sqlite --rate 200 --seconds 60

For each database it migrates a fresh database, starts `gunicorn wsgi:app` and
`flask --app owlmail worker` (per-IP limits raised for the run), and an SMTP sink in its
own process. It then measures, in the same run:

1. baseline: GET /healthz at the same rate (the server's floor on this machine);
2. sign-ups: POST /subscribe (a real form with CSRF token and fill-time stamp) at
   --rate per second for --seconds, open loop, each to a new address;

and prints p50/p99 latency, errors, and the delay from sign-up to the confirmation
mail arriving at the sink (p50/p95/max). Targets: p99 < 100 ms, no errors, p95 < 2 s.
"""

import argparse
import html
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URI = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "owlmail_bench_signup"


# --- the SMTP sink (runs as `signup_load.py --sink PORT FILE`) --------------

def run_sink(port: int, out: str) -> None:
    """Accept every mail; append "arrival-time recipient" lines to `out` as they come."""
    from aiosmtpd.controller import Controller

    log = open(out, "a", buffering=1)  # noqa: SIM115 (open for the sink's whole life)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            now = time.time()
            for rcpt in envelope.rcpt_tos:
                log.write(f"{now:.6f} {rcpt}\n")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    log.close()


# --- processes -------------------------------------------------------------


def fresh_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite'}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URI, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_BENCH_DB}"


def app_env(database_uri: str, smtp_port: int, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OWLMAIL_SQLALCHEMY_DATABASE_URI": database_uri,
        "OWLMAIL_SECRET_KEY": "bench-secret",
        "OWLMAIL_MAIL_SERVER": "127.0.0.1",
        "OWLMAIL_MAIL_PORT": str(smtp_port),
        "OWLMAIL_SUBSCRIBE_RATE_LIMIT": "1000000/minute",
        "OWLMAIL_SUBSCRIBE_ADDRESS_RATE_LIMIT": "1000/minute",
        "OWLMAIL_FORM_MIN_SECONDS": "0",
        "OWLMAIL_OUTBOX_POLL_SECONDS": "0.2",
        "OWLMAIL_OUTBOX_BATCH_SIZE": "200",
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


# --- load ------------------------------------------------------------------

class Session:
    """One visitor: a keep-alive connection, a session cookie, the form's hidden fields."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/")
        response = self.conn.getresponse()
        page = response.read().decode()
        self.cookie = response.getheader("Set-Cookie", "").split(";")[0]
        self.fields = hidden_fields(page)
        if "csrf_token" not in self.fields:
            raise SystemExit("the landing page has no csrf_token field")

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = {"Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status


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


def open_loop(port: int, rate: float, seconds: float, make_request, clients: int = 32):
    """Fire `rate` requests per second for `seconds`, spread over `clients` connections.

    Latency is measured from each request's scheduled start, so a server that falls
    behind shows it (no coordinated omission)."""
    sessions = [Session(port) for _ in range(clients)]
    results: list[tuple[float, float, int, str]] = []  # (start, latency, status, tag)
    lock = threading.Lock()
    t0 = time.time() + 0.5
    total = int(rate * seconds)

    def client(n: int) -> None:
        session = sessions[n]
        for i in range(n, total, clients):
            scheduled = t0 + i / rate
            delay = scheduled - time.time()
            if delay > 0:
                time.sleep(delay)
            method, path, body, tag = make_request(session, i)
            try:
                status = session.request(method, path, body)
            except OSError:
                status = 0
                session.conn.close()
            with lock:
                results.append((scheduled, time.time() - scheduled, status, tag))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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


# --- one run ---------------------------------------------------------------

def run(kind: str, rate: float, seconds: float, web_workers: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"owlmail-bench-{kind}-"))
    smtp_port, web_port = free_port(), free_port()
    database_uri = fresh_database(kind, workdir)
    env = app_env(database_uri, smtp_port, workdir)
    flask = [str(BIN / "flask"), "--app", "owlmail"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    arrivals_file = workdir / "arrivals.json"
    sink = start([sys.executable, __file__, "--sink", str(smtp_port), str(arrivals_file)],
                 env, workdir / "sink.log")
    web = start([str(BIN / "gunicorn"), "--workers", str(web_workers), "--bind",
                 f"127.0.0.1:{web_port}", "--log-level", "warning", "wsgi:app"],
                env, workdir / "gunicorn.log")
    worker = start([*flask, "worker"], env, workdir / "worker.log")
    try:
        wait_for_port(smtp_port)
        wait_for_port(web_port)
        print(f"\n{kind}: gunicorn x{web_workers} + worker, {rate:.0f}/s for {seconds:.0f} s")

        def health(session, i):
            return "GET", "/healthz", None, ""

        base = report_latency("baseline GET /healthz",
                              open_loop(web_port, rate, min(seconds, 10), health),
                              min(seconds, 10))

        def signup(session, i):
            email = f"bench-{i}@example.org"
            return "POST", "/subscribe", signup_body(session.fields, email), email

        results = open_loop(web_port, rate, seconds, signup)
        figures = report_latency("POST /subscribe", results, seconds)
        started = {tag: start for start, _, status, tag in results if status == 200}
        arrivals = wait_for_mail(len(started), arrivals_file)
        delays = [(arrivals[tag] - t) for tag, t in started.items() if tag in arrivals]
        missing = len(started) - len(delays)
        figures.update(mail_p50_s=percentile(delays, 50), mail_p95_s=percentile(delays, 95),
                       mail_max_s=max(delays) if delays else float("nan"), missing=missing,
                       baseline=base)
        print(f"  sign-up -> mail         p50 {figures['mail_p50_s']:.2f} s  "
              f"p95 {figures['mail_p95_s']:.2f} s  max {figures['mail_max_s']:.2f} s  "
              f"not arrived {missing}")
        cpu = cpu_seconds(web, worker, sink)
        per_signup = {name: seconds * 1000 / max(len(results), 1) for name, seconds in cpu.items()}
        print("  CPU per sign-up (ms):   " + "  ".join(
            f"{name} {ms:.1f}" for name, ms in per_signup.items()))
        figures["cpu_ms"] = per_signup
        locked = (workdir / "gunicorn.log").read_text().count("database is locked")
        locked += (workdir / "worker.log").read_text().count("database is locked")
        print(f"  'database is locked' in the logs: {locked}")
        figures["locked"] = locked
        return figures
    finally:
        stop(web)
        stop(worker)
        stop(sink)


def _process_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cpu_seconds(web, worker, sink) -> dict[str, float]:
    """CPU used so far by gunicorn (master + workers), the worker, the sink and this load
    generator (whole run, baseline included)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "gunicorn": sum(_process_cpu(p) for p in [web.pid, *_children(web.pid)]),
        "worker": _process_cpu(worker.pid),
        "sink": _process_cpu(sink.pid),
        "load generator": usage.ru_utime + usage.ru_stime,
    }


def wait_for_mail(expected: int, arrivals_file: Path, timeout: float = 60) -> dict:
    """Poll the sink's file until every confirmation arrived (or timeout); first arrivals."""
    deadline = time.time() + timeout
    arrivals: dict[str, float] = {}
    while True:
        arrivals.clear()
        if arrivals_file.exists():
            for line in arrivals_file.read_text().splitlines():
                at, rcpt = line.split(" ", 1)
                arrivals.setdefault(rcpt, float(at))
        if len(arrivals) >= expected or time.time() > deadline:
            return arrivals
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(int(args.sink[0]), args.sink[1])
        return
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for kind in kinds:
        run(kind, args.rate, args.seconds, args.web_workers)
    print("\ntargets: p99 < 100 ms, 0 errors, sign-up -> mail p95 < 2 s")


if __name__ == "__main__":
    main()
