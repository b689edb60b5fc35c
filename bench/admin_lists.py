"""Admin subscriber list at 1,000,000 subscribers in PostgreSQL.

    .venv/bin/python bench/admin_lists.py                          # fresh owlmail_bench
    .venv/bin/python bench/admin_lists.py --database-uri postgresql+psycopg://…/mydb --keep

Creates a fresh database `owlmail_bench` (dropped afterwards unless --keep), builds the
schema from the models, seeds 1,000,000 subscribers with about 2.7 topics each in SQL
(generate_series: seconds, not minutes), then times through the Flask test client,
logged in as an admin, each page --runs times: the first page, a page deep in the list
(cursor), a search by address prefix, filters by status and by topic, both together,
and the dashboard. Prints median and p95 ms per page next to the 200 ms target.
"""

import argparse
import statistics
import time

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from owlmail import create_app
from owlmail.admin.services import STATS_KEY
from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.extensions import db
from owlmail.subscriptions.seed import seed_topics

DEFAULT_DB = "owlmail_bench"
ADMIN_URI = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 200

SEED_SUBSCRIBERS = """
INSERT INTO subscribers (email, email_key, name, status, source, created_at, requested_at,
                         confirmed_at, token_key)
SELECT addr, addr, 'Person ' || g,
       CASE WHEN g % 20 < 15 THEN 'confirmed' WHEN g % 20 < 17 THEN 'pending'
            WHEN g % 20 < 19 THEN 'unsubscribed' ELSE 'bounced' END,
       'web', at, at, CASE WHEN g % 20 < 15 THEN at END, md5(g::text)
FROM (SELECT g, substr(md5(g::text), 1, 6) || '.' || g || '@firma' || (g % 500) || '.de' AS addr,
             now() - make_interval(secs => (:n - g) * 15) AS at
      FROM generate_series(1, :n) AS g) AS s
"""
SEED_TOPICS = """
INSERT INTO subscriber_topics (subscriber_id, topic_id)
SELECT s.id, t.id FROM subscribers s JOIN topics t ON (s.id + t.id) % 3 = 0
"""


def admin_connection():
    return psycopg.connect(ADMIN_URI, autocommit=True)


def create_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(app, count: int) -> None:
    """Schema, topics, subscribers and their topics; then ANALYZE."""
    with app.app_context():
        db.create_all()
        seed_topics()
        create_editor("bench@owl-morgen.de", "bench-passwort-123", Role.ADMIN)
        db.session.commit()
        started = time.perf_counter()
        db.session.execute(text(SEED_SUBSCRIBERS), {"n": count})
        db.session.execute(text(SEED_TOPICS))
        db.session.commit()
        print(f"seeded {count:,} subscribers in {time.perf_counter() - started:.1f} s")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def logged_in_client(app):
    client = app.test_client()
    with app.app_context():
        editor_id = db.session.execute(text("SELECT id FROM editors LIMIT 1")).scalar()
    with client.session_transaction() as session:
        session["_user_id"] = str(editor_id)
        session["_fresh"] = True
    return client


def sample_values(app) -> dict:
    """A cursor in the middle of the list and an address prefix that exists."""
    with app.app_context():
        middle = db.session.execute(text("SELECT max(id) / 2 FROM subscribers")).scalar()
        email = db.session.execute(text("SELECT email_key FROM subscribers WHERE id = :i"),
                                   {"i": middle}).scalar()
    return {"cursor": str(middle), "prefix": email[:4]}


def time_page(client, url: str, runs: int, before=None) -> tuple[float, float, int]:
    """Median and p95 in ms over `runs` requests (after one warm-up)."""
    before = before or (lambda: None)
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    rows = max(answer.get_data(as_text=True).count("<tr>") - 1, 0)
    timings = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        answer = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return statistics.median(timings), p95, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-uri", help="an existing PostgreSQL database to fill")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    fresh = args.database_uri is None
    uri = args.database_uri or f"postgresql+psycopg://postgres@127.0.0.1:5432/{DEFAULT_DB}"
    name = make_url(uri).database
    if fresh:
        create_database(name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench",
                      "RATELIMIT_ENABLED": False, "MAIL_SERVER": None})
    try:
        seed(app, args.subscribers)
        client = logged_in_client(app)
        values = sample_values(app)
        pages = [
            ("first page", "/admin/subscribers"),
            ("page in the middle (cursor)", f"/admin/subscribers?after={values['cursor']}"),
            (f"search address prefix '{values['prefix']}'",
             f"/admin/subscribers?q={values['prefix']}"),
            ("search, no match", "/admin/subscribers?q=zzzz-niemand"),
            ("filter status=bounced", "/admin/subscribers?status=bounced"),
            ("filter topic=bauen", "/admin/subscribers?topic=bauen"),
            ("topic=bauen + status=pending", "/admin/subscribers?topic=bauen&status=pending"),
            ("topic + status, cursor", "/admin/subscribers?topic=bauen&status=pending"
                                       f"&after={values['cursor']}"),
            ("dashboard, counts cached (<= 60 s old)", "/admin/"),
        ]
        print(f"\n{'page':44} {'rows':>5} {'median ms':>10} {'p95 ms':>8}  target {TARGET_MS} ms")
        for label, url in pages:
            median, p95, rows = time_page(client, url, args.runs)
            verdict = "ok" if p95 <= TARGET_MS else "SLOW"
            print(f"{label:44} {rows:>5} {median:>10.1f} {p95:>8.1f}  {verdict}")
        median, p95, rows = time_page(client, "/admin/", max(3, args.runs // 4),
                                      before=lambda: app.extensions.pop(STATS_KEY, None))
        print(f"{'dashboard, counts computed (once a minute)':44} {rows:>5} {median:>10.1f} "
              f"{p95:>8.1f}  (not a list page)")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if fresh and not args.keep:
            drop_database(name)


if __name__ == "__main__":
    main()
