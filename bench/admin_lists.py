"""Admin subscriber list at 1,000,000 subscribers in PostgreSQL.

    .venv/bin/python bench/admin_lists.py                          # fresh owlmail_bench
    .venv/bin/python bench/admin_lists.py --database-uri postgresql+psycopg://…/mydb --keep

Creates a fresh database `owlmail_bench` (dropped afterwards unless --keep), builds the
schema from the models, seeds 1,000,000 subscribers with about 2.7 topics each in SQL
(generate_series: seconds, not minutes), then times through the Flask test client,
logged in as an admin, each page --runs times: the first page, a page deep in the list
(cursor), a search by address prefix, filters by status and by topic, both together,
and the dashboard. Prints median and p95 ms per page next to the 200 ms target.
Then the segments: the campaign editor's audience count (topic + organisation + district)
against 200 ms, and fixing a segmented campaign's audience (the INSERT … SELECT the
sender runs when it starts) against 10 s, rolled back afterwards.
"""

import argparse
import statistics
import time

import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from owlmail import create_app
from owlmail.admin.services import STATS_KEY
from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.campaigns.segments import clean_segment, set_segment
from owlmail.delivery.services import fix_audience
from owlmail.extensions import db
from owlmail.subscriptions.fields.seed import seed_fields
from owlmail.subscriptions.fields.services import ANSWERS_KEY
from owlmail.subscriptions.models import Topic
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
# About 80 % say what kind of organisation, 90 % which district (the seeded fields 1 and 2).
SEED_ANSWERS = """
INSERT INTO subscriber_field_values (subscriber_id, field_id, value)
SELECT id, 1, (ARRAY['unternehmen','hochschule','verwaltung','verband','privat'])[id % 5 + 1]
FROM subscribers WHERE id % 10 < 8
UNION ALL
SELECT id, 2, (ARRAY['bielefeld','guetersloh','herford','hoexter','lippe','minden-luebbecke',
                     'paderborn','ausserhalb'])[id % 8 + 1]
FROM subscribers WHERE id % 10 < 9
"""
SEGMENT = {"organisation": ["hochschule", "verwaltung"], "kreis": ["paderborn", "lippe"]}
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
        seed_fields()
        create_editor("bench@owl-morgen.de", "bench-passwort-123", Role.ADMIN)
        db.session.commit()
        started = time.perf_counter()
        db.session.execute(text(SEED_SUBSCRIBERS), {"n": count})
        db.session.execute(text(SEED_TOPICS))
        db.session.execute(text(SEED_ANSWERS))
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


def time_audience_count(client, runs: int) -> None:
    """POST /admin/campaigns/audience as the editor page asks while ticking."""
    data = {"topics": ["it"], "segment_organisation": SEGMENT["organisation"],
            "segment_kreis": SEGMENT["kreis"]}
    answer = client.post("/admin/campaigns/audience", data=data)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        client.post("/admin/campaigns/audience", data=data)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    verdict = "ok" if p95 <= TARGET_MS else "SLOW"
    print(f"{'audience count, topic + segment':44} {answer.json['recipients']:>9,} "
          f"{statistics.median(timings):>6.1f} {p95:>8.1f}  {verdict}")


def time_segmented_audience(app) -> None:
    """Fix a segmented campaign's audience as the sender does when it starts (rolled back)."""
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.slug == "it"))
        campaign = Campaign(subject="Bench", body="Hallo", topics=[topic],
                            status=CampaignStatus.SENDING)
        db.session.add(campaign)
        db.session.flush()
        set_segment(campaign.id, clean_segment(SEGMENT))
        started = time.perf_counter()
        count = fix_audience(campaign)
        seconds = time.perf_counter() - started
        db.session.rollback()
    verdict = "ok" if seconds <= 10 else "SLOW"
    print(f"{'segmented audience fixed (INSERT … SELECT)':44} {count:>9,} "
          f"{seconds * 1000:>15.0f}  target 10 s: {verdict}")


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
                      "RATELIMIT_ENABLED": False, "MAIL_SERVER": None,
                      "WTF_CSRF_ENABLED": False})  # the audience count is a POST
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
                                      before=lambda: (app.extensions.pop(STATS_KEY, None),
                                                      app.extensions.pop(ANSWERS_KEY, None)))
        print(f"{'dashboard, counts computed (once a minute)':44} {rows:>5} {median:>10.1f} "
              f"{p95:>8.1f}  (not a list page)")
        print(f"\n{'segments':44} {'people':>9} {'median ms':>6} {'p95 ms':>8}")
        time_audience_count(client, args.runs)
        time_segmented_audience(app)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if fresh and not args.keep:
            drop_database(name)


if __name__ == "__main__":
    main()
