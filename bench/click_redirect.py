"""Link redirects under load: GET /r/<token> on gunicorn, next to GET /healthz in one run.

    .venv/bin/python bench/click_redirect.py                   # SQLite, 1,000/s for 20 s
    .venv/bin/python bench/click_redirect.py --db postgres --rate 1000 --seconds 20

For each database it migrates a fresh database, stores one sent campaign with ten links
and 200 readers with tracking consent, starts `gunicorn wsgi:app` as production runs it
(bench/signup_load.py's helpers) and measures, open loop, each request on a new
connection:

1. baseline: GET /healthz at --rate per second for --seconds (the server's floor here);
2. clicks: GET /r/<token> at the same rate for as long, nine in ten with the campaign's
   anonymous tokens and one in ten with a consenting reader's own token;

and prints p50/p99/max and errors for both. Then it stops gunicorn (each worker writes
what it still holds as it exits) and checks that every click answered arrived in the
database: the counts are written in batches by a thread per worker, never a row per
click inside the request. Target: p99 < 50 ms at 1,000 clicks/s, no errors, no click lost.
"""

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ports import free_port, wait_for_port
from signup_load import (
    BIN,
    ROOT,
    app_env,
    fresh_database,
    http_request,
    open_loop,
    report_latency,
    start,
    stop,
)

sys.path.insert(0, str(ROOT))
PG_BENCH_DB = "owlmail_bench_click"
LINKS = 10
READERS = 200


def bench_app(database_uri: str):
    from owlmail import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "bench-secret",
                       "BASE_URL": "http://127.0.0.1"})


def seed(database_uri: str) -> tuple[int, list[str], list[str]]:
    """A sent campaign with its links stored, readers with tracking consent; the campaign
    id, its anonymous link paths and readers' own link paths."""
    from sqlalchemy import insert, select

    from owlmail.campaigns.links import store_links
    from owlmail.campaigns.models import Campaign, CampaignStatus
    from owlmail.extensions import db
    from owlmail.subscriptions.models import Subscriber, SubscriberStatus
    from owlmail.timeutil import utcnow
    from owlmail.tokens import NumberSigner, Purpose

    app = bench_app(database_uri)
    with app.app_context():
        campaign = Campaign(subject="Digitalgipfel OWL: Ergebnisse", body="…",
                            status=CampaignStatus.SENT, started_at=utcnow(), send_at=utcnow())
        db.session.add(campaign)
        db.session.flush()
        store_links(campaign.id, [f"https://www.owl-morgen.de/ergebnisse/{n}"
                                  for n in range(1, LINKS + 1)])
        db.session.execute(insert(Subscriber), [
            {"email": f"leserin{n}@example.net", "email_key": f"leserin{n}@example.net",
             "status": SubscriberStatus.CONFIRMED, "tracking": True} for n in range(READERS)])
        readers = db.session.scalars(select(Subscriber.id)).all()
        db.session.commit()
        signer, campaign_id = NumberSigner(Purpose.CLICK), campaign.id
        anonymous = [f"/r/{signer.dumps(campaign_id, n)}" for n in range(1, LINKS + 1)]
        own = [f"/r/{signer.dumps(campaign_id, 1 + i % LINKS, reader)}"
               for i, reader in enumerate(readers)]
        db.engine.dispose()
    return campaign_id, anonymous, own


def stored_counts(database_uri: str, campaign_id: int) -> tuple[int, int, int]:
    """(clicks, filtered, readers' rows) written for the campaign."""
    from sqlalchemy import func, select

    from owlmail.extensions import db
    from owlmail.tracking.models import LinkCount, ReaderActivity

    app = bench_app(database_uri)
    with app.app_context():
        clicks, filtered = db.session.execute(select(
            func.coalesce(func.sum(LinkCount.clicks), 0),
            func.coalesce(func.sum(LinkCount.filtered), 0)).where(
            LinkCount.campaign_id == campaign_id)).one()
        readers = db.session.scalar(select(func.coalesce(func.sum(ReaderActivity.count), 0))
                                    .where(ReaderActivity.campaign_id == campaign_id))
        db.engine.dispose()
    return int(clicks), int(filtered), int(readers)


def warm_up(port: int, path: str) -> int:
    """Every worker booted and through its first requests (imports, caches) before the
    clock starts: two seconds of both requests at a low rate, not measured. Returns how
    many of its clicks were answered (they are counted too)."""
    requests = [http_request("GET", p) for p in ("/healthz", path)] * 200
    results = open_loop(port, requests, 200)
    return sum(1 for _at, _latency, status in results[1::2] if status == 302)


def drain(port: int, quiet_ms: float = 20, timeout: float = 120) -> None:
    """Wait until the server answers at once again: an overloaded baseline must not leave
    a queue of its own requests in front of the next round."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(_at, latency, _status)] = open_loop(port, [http_request("GET", "/healthz")], 10)
        if latency * 1000 < quiet_ms:
            time.sleep(1)
            return
        time.sleep(0.5)


def as_ok(results, status: int) -> list:
    """The open loop's results with `status` counted as success (a redirect is one)."""
    return [(at, latency, 200 if code == status else code) for at, latency, code in results]


def run(kind: str, rate: float, seconds: float, web_workers: int,
        base_rate: float | None = None) -> dict:
    base_rate = base_rate or rate
    workdir = Path(tempfile.mkdtemp(prefix=f"owlmail-bench-click-{kind}-"))
    web_port = free_port()
    database_uri = fresh_database(kind, workdir, PG_BENCH_DB)
    env = app_env(database_uri, free_port(), "memory://")
    env["OWLMAIL_BASE_URL"] = "http://127.0.0.1"
    subprocess.run([str(BIN / "flask"), "--app", "owlmail", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    campaign_id, anonymous, own = seed(database_uri)
    web = start([str(BIN / "gunicorn"), "--workers", str(web_workers), "--bind",
                 f"127.0.0.1:{web_port}", "--log-level", "warning", "wsgi:app"],
                env, workdir / "gunicorn.log")
    try:
        wait_for_port(web_port)
        print(f"\n{kind}: gunicorn x{web_workers}, /healthz at {base_rate:.0f}/s, then /r/ at "
              f"{rate:.0f}/s, {seconds:.0f} s each; {LINKS} links, {READERS} readers with "
              "consent")
        count = int(rate * seconds)
        warmed = warm_up(web_port, anonymous[0])
        health = [http_request("GET", "/healthz")] * int(base_rate * seconds)
        base = report_latency("GET /healthz", open_loop(web_port, health, base_rate), seconds)
        drain(web_port)
        picks = random.Random(15)
        clicks = [http_request("GET", picks.choice(own) if picks.random() < 0.1
                               else picks.choice(anonymous)) for _ in range(count)]
        results = as_ok(open_loop(web_port, clicks, rate), 302)
        figures = report_latency("GET /r/<token>", results, seconds)
    finally:
        stop(web)  # SIGTERM: each worker writes what it still holds as it exits
    answered = sum(1 for _at, _latency, status in results if status == 200) + warmed
    stored, filtered, readers = stored_counts(database_uri, campaign_id)
    print(f"  p99 /r/ {figures['p99_ms']:.1f} ms next to /healthz {base['p99_ms']:.1f} ms "
          f"(same run); clicks answered {answered} (warm-up included), in the database {stored} "
          f"(filtered {filtered}, readers' own {readers})")
    figures.update(baseline=base, answered=answered, stored=stored)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--baseline-rate", type=float, help="GET /healthz per second "
                        "(default: --rate)")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    failed = False
    for kind in kinds:
        figures = run(kind, args.rate, args.seconds, args.web_workers, args.baseline_rate)
        failed |= (figures["p99_ms"] >= 50 or figures["errors"] > 0
                   or figures["stored"] != figures["answered"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
