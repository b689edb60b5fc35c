"""CPU per request inside one process, next to a bare Flask app measured in the same run.

    .venv/bin/python bench/request_cost.py                     # SQLite, 2,000 of each
    .venv/bin/python bench/request_cost.py --n 5000 --profile subscribe

It builds the app as production does (limits on, CSRF on, the fill-time check on with
its minimum at 0), calls it through Werkzeug's test client (no sockets, no server) and
prints the CPU milliseconds per request of:

- bare Flask: a one-line view returning a page of the landing page's size (the floor
  of Flask, Werkzeug and the test client themselves);
- GET /healthz, GET / (the landing page with its form), POST /subscribe (a new
  address each time: subscriber, topics, consent event and confirmation mail written).

`--profile NAME` runs cProfile over that request kind and prints the costliest functions.
The figure that decides how many sign-ups two cores take is POST /subscribe.
"""

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

from flask import Flask
from signup_load import hidden_fields

from owlmail import create_app
from owlmail.extensions import db
from owlmail.subscriptions.seed import seed_topics


def owlmail_app(workdir: Path, database_uri: str | None, overrides: dict):
    app = create_app({
        "SECRET_KEY": "bench-secret",
        "SQLALCHEMY_DATABASE_URI": database_uri or f"sqlite:///{workdir / 'cost.sqlite'}",
        "SUBSCRIBE_RATE_LIMIT": "1000000/minute",
        "SUBSCRIBE_ADDRESS_RATE_LIMIT": "1000/minute",
        "FORM_MIN_SECONDS": 0,
        "MAIL_SERVER": "127.0.0.1",  # mail waits in the outbox: nothing is sent here
        "SCHEDULER_ENABLED": False,
        **overrides,
    }, instance_path=str(workdir / "instance"))
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_topics()
        db.session.commit()
    return app


def bare_app(size: int) -> Flask:
    app = Flask("bare")
    page = "x" * size

    @app.get("/")
    def index():
        return page

    return app


def cpu_ms_per_call(call, n: int, rounds: int = 3) -> float:
    """The least CPU per call over `rounds` rounds of n/rounds calls (as timeit does: the
    other rounds only add what the rest of the machine took)."""
    for _ in range(min(50, n)):  # warm caches, compile templates, open connections
        call()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(n // rounds):
            call()
        best = min(best, (time.process_time() - start) * 1000 / (n // rounds))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--database-uri", help="an empty database to use instead of SQLite")
    parser.add_argument("--profile", choices=["bare", "healthz", "landing", "subscribe"])
    parser.add_argument("--only", choices=["bare", "healthz", "landing", "subscribe"],
                        help="run just N of these, untimed (for valgrind --tool=callgrind)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="a setting to try, e.g. --set RATELIMIT_ENABLED=false")
    args = parser.parse_args()
    overrides = {key: json.loads(value)
                 for key, value in (item.split("=", 1) for item in args.set)}

    workdir = Path(tempfile.mkdtemp(prefix="owlmail-cost-"))
    app = owlmail_app(workdir, args.database_uri, overrides)
    client = app.test_client()
    landing = client.get("/")
    assert landing.status_code == 200, landing.status_code
    fields = hidden_fields(landing.get_data(as_text=True))
    assert "csrf_token" in fields, "the landing page has no csrf_token"
    bare = bare_app(len(landing.get_data())).test_client()
    counter = iter(range(10**9))

    def subscribe():
        response = client.post("/subscribe", data={
            **fields, "email": f"cost-{next(counter)}@example.org", "name": "Bench Müller",
            "topics": ["bildung", "it"], "consent": "y"})
        assert response.status_code == 200, response.status_code

    calls = {
        "bare": lambda: bare.get("/"),
        "healthz": lambda: client.get("/healthz"),
        "landing": lambda: client.get("/"),
        "subscribe": subscribe,
    }
    if args.only:
        for _ in range(args.n):
            calls[args.only]()
        return
    if args.profile:
        calls[args.profile]()
        profile = cProfile.Profile(time.process_time)
        profile.runcall(lambda: [calls[args.profile]() for _ in range(args.n)])
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return

    print(f"CPU per request, in-process, best of 3 rounds of {args.n // 3} "
          f"({'SQLite' if not args.database_uri else args.database_uri.split(':')[0]}):")
    figures = {name: cpu_ms_per_call(call, args.n) for name, call in calls.items()}
    for name, ms in figures.items():
        extra = "" if name == "bare" else f"  ({ms / figures['bare']:.1f}× bare Flask)"
        print(f"  {name:<10} {ms:6.2f} ms{extra}")
    print(f"  two cores' ceiling for sign-ups, web side only: "
          f"{2000 / figures['subscribe']:.0f}/s")


if __name__ == "__main__":
    main()
