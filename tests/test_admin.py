"""Admin pages and the subscriber queries behind them (also used by the JSON API)."""

import pytest
from sqlalchemy import func, select

from owlmail import erasure
from owlmail.addresses import address_hash, normalize_address
from owlmail.admin import services
from owlmail.extensions import db
from owlmail.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)
from owlmail.subscriptions import queries
from owlmail.subscriptions.consent import Evidence
from owlmail.subscriptions.queries import QueryError as AdminError
from owlmail.subscriptions.services import is_suppressed, record
from tests.conftest import FormClient
from tests.support.pages import hidden_fields


def add_subscriber(email: str, status=SubscriberStatus.CONFIRMED, topics=("innovation",),
                   name: str = "") -> int:
    """A subscriber with one consent event; returns its id (inside an app context)."""
    shown, key = normalize_address(email)
    chosen = list(db.session.scalars(select(Topic).where(Topic.slug.in_(topics))))
    subscriber = Subscriber(email=shown, email_key=key, name=name, status=status, topics=chosen)
    db.session.add(subscriber)
    db.session.flush()
    record(subscriber, "requested", Evidence(ip="192.0.2.7", user_agent="Firefox",
                                             source_url="https://owl-morgen.de/"),
           consent_text_version="abc123", mail_template_version="def456")
    db.session.commit()
    return subscriber.id


@pytest.fixture
def people(app):
    """Twelve subscribers: a…l, mixed status and topics; ids ascend with the letter."""
    with app.app_context():
        ids = {}
        for index, letter in enumerate("abcdefghijkl"):
            status = SubscriberStatus.PENDING if index % 3 == 0 else SubscriberStatus.CONFIRMED
            topics = ("bildung",) if index % 2 else ("innovation", "it")
            ids[letter] = add_subscriber(f"{letter}{letter}@beispiel.de", status, topics)
        return ids


# --- queries ---------------------------------------------------------------

def test_list_pages_newest_first_with_a_cursor_until_the_end(app, people):
    with app.app_context():
        first = queries.list_subscribers(limit=5)
        second = queries.list_subscribers(limit=5, after=first.next)
        third = queries.list_subscribers(limit=5, after=second.next)
    seen = [s.email[0] for s in first.items + second.items + third.items]
    assert seen == list("lkjihgfedcba")
    assert first.next == str(first.items[-1].id)
    assert third.next is None


def test_list_filters_by_status_topic_and_address_prefix(app, people):
    with app.app_context():
        pending = queries.list_subscribers(status=SubscriberStatus.PENDING)
        bildung = queries.list_subscribers(topic="bildung")
        both = queries.list_subscribers(topic="innovation", status=SubscriberStatus.PENDING)
        found = queries.list_subscribers(q=" CC@ ")
        assert {s.email[0] for s in pending.items} == set("adgj")
        assert {s.email[0] for s in bildung.items} == set("bdfhjl")
        assert {s.email[0] for s in both.items} == set("ag")
        assert [s.email for s in found.items] == ["cc@beispiel.de"]


def test_search_treats_like_wildcards_as_plain_characters(app, people):
    with app.app_context():
        add_subscriber("a_b@beispiel.de")
        assert [s.email for s in queries.list_subscribers(q="a_").items] == ["a_b@beispiel.de"]
        assert queries.list_subscribers(q="%").items == []


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "١٢", "9" * 30])
def test_a_bad_cursor_is_a_german_400(app, cursor):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        queries.list_subscribers(after=cursor)
    assert caught.value.status == 400
    assert "Cursor" in caught.value.message


def test_an_unknown_topic_is_a_german_400(app):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        queries.list_subscribers(topic="kochen")
    assert caught.value.status == 400
    assert "Unbekanntes Thema" in caught.value.message


def test_detail_carries_the_consent_history(app, people):
    with app.app_context():
        detail = queries.subscriber_detail(queries.get_subscriber(people["b"]))
    assert detail["email"] == "bb@beispiel.de"
    assert detail["topics"] == ["bildung"]
    assert detail["status"] == "confirmed"
    [event] = detail["consent_history"]
    assert event["action"] == "requested"
    assert event["ip"] == "192.0.2.7"
    assert event["consent_text_version"] == "abc123"
    assert event["at"].endswith("+00:00")


def test_erase_removes_personal_data_and_keeps_a_hashed_suppression(app, people):
    with app.app_context():
        campaign = Campaign(subject="Ausgabe 1")
        db.session.add(campaign)
        db.session.flush()
        db.session.add(Delivery(campaign_id=campaign.id, subscriber_id=people["b"]))
        db.session.commit()
        erasure.erase_person(db.session.get(Subscriber, people["b"]))
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Subscriber, people["b"]) is None
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent).where(
            ConsentEvent.subscriber_id == people["b"])) == 0
        delivery = db.session.scalar(select(Delivery))
        assert delivery.subscriber_id is None
        suppression = db.session.scalar(select(Suppression))
        assert suppression.email_hash == address_hash("bb@beispiel.de")
        assert suppression.reason == "erased"
        assert is_suppressed("bb@beispiel.de")


def test_get_subscriber_that_is_gone_is_404(app):
    with app.test_request_context(), pytest.raises(AdminError) as caught:
        queries.get_subscriber(4711)
    assert caught.value.status == 404


# --- pages -----------------------------------------------------------------

def test_the_dashboard_counts_by_status_and_topic_and_draws_growth(app, editor_client, people):
    page = editor_client.get("/admin/").get_data(as_text=True)
    assert "<svg" in page and "polyline" in page
    assert 'href="/admin/subscribers?status=pending"' in page
    with app.app_context():
        counts = services.count_by_status()
        by_topic = {topic.slug: n for topic, n in services.count_by_topic()}
        weeks = services.growth()
    assert counts[SubscriberStatus.PENDING] == 4 and counts[SubscriberStatus.CONFIRMED] == 8
    assert by_topic["bildung"] == 4 and by_topic["innovation"] == 4 and by_topic["bauen"] == 0
    assert len(weeks) == 12 and weeks[-1].total == 12 and weeks[-1].new == 12


def test_the_dashboard_lists_scheduled_and_sent_campaigns(app, editor_client):
    from owlmail.campaigns.models import CampaignStatus
    from owlmail.timeutil import utcnow

    with app.app_context():
        db.session.add_all([
            Campaign(subject="Ausgabe Mai", status=CampaignStatus.SENT, finished_at=utcnow()),
            Campaign(subject="Ausgabe Juni", status=CampaignStatus.SCHEDULED, send_at=utcnow()),
            Campaign(subject="Entwurf Juli"),
        ])
        db.session.commit()
    page = editor_client.get("/admin/").get_data(as_text=True)
    assert "Ausgabe Mai" in page and "Ausgabe Juni" in page
    assert "Entwurf Juli" not in page


def test_the_subscriber_list_searches_filters_and_pages(app, editor_client, people):
    first = editor_client.get("/admin/subscribers?status=confirmed").get_data(as_text=True)
    assert "kk@beispiel.de" in first and "aa@beispiel.de" not in first
    search = editor_client.get("/admin/subscribers?q=bb").get_data(as_text=True)
    assert "bb@beispiel.de" in search and "cc@beispiel.de" not in search
    topic = editor_client.get("/admin/subscribers?topic=it").get_data(as_text=True)
    assert "aa@beispiel.de" in topic and "bb@beispiel.de" not in topic
    with app.app_context():
        cursor = str(people["c"])
    later = editor_client.get(f"/admin/subscribers?after={cursor}").get_data(as_text=True)
    assert "bb@beispiel.de" in later and "cc@beispiel.de" not in later


@pytest.mark.parametrize("query, message", [
    ("after=abc", "Cursor"), ("status=weg", "Unbekannter Status"), ("topic=kochen", "Thema"),
])
def test_bad_list_parameters_get_a_german_400(editor_client, query, message):
    answer = editor_client.get(f"/admin/subscribers?{query}")
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_the_detail_page_shows_the_consent_log(editor_client, people):
    page = editor_client.get(f"/admin/subscribers/{people['b']}").get_data(as_text=True)
    assert "bb@beispiel.de" in page
    assert "192.0.2.7" in page and "Firefox" in page and "abc123" in page and "def456" in page
    assert "Daten löschen" not in page  # editors read only
    assert editor_client.get("/admin/subscribers/999999").status_code == 404


def test_the_detail_page_and_the_api_quote_the_exact_consent_wording(app, client,
                                                                    editor_client):
    """A version hash alone proves little years later: the page quotes what was shown."""
    FormClient(client).submit("/", {"email": "anna@example.org", "topics": ["bildung"],
                                    "consent": "y"}, action="/subscribe")
    FormClient(client).submit("/?lang=en", {"email": "anna@example.org", "consent": "y"},
                              action="/subscribe?lang=en")
    with app.app_context():
        person = db.session.scalar(select(Subscriber))
        german, english = [e.consent_text_version for e in person.consent_events]
        assert german != english
        detail = queries.subscriber_detail(person)
    page = editor_client.get(f"/admin/subscribers/{person.id}").get_data(as_text=True)
    assert f'href="#wording-{german}"' in page and f'id="wording-{german}"' in page
    assert "Meine Einwilligung kann ich jederzeit über den Abmeldelink" in page
    assert "I can withdraw my consent at any time" in page
    assert [t["version"] for t in detail["consent_texts"]] == [german, english]
    assert "jederzeit" in detail["consent_texts"][0]["text"]
    assert "<a" not in detail["consent_texts"][0]["text"]  # stored as plain text


def test_names_with_script_tags_are_shown_as_text(app, editor_client):
    with app.app_context():
        person = add_subscriber("x@beispiel.de", name="<script>alert(1)</script>")
    page = editor_client.get(f"/admin/subscribers/{person}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_editors_may_not_erase(editor_client, people):
    assert editor_client.get(f"/admin/subscribers/{people['b']}/erase").status_code == 403


def test_an_admin_erases_after_confirming(app, admin_client, people):
    url = f"/admin/subscribers/{people['b']}/erase"
    token = hidden_fields(admin_client.get(url).data)["csrf_token"]
    unconfirmed = admin_client.post(url, data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert "Häkchen" in unconfirmed.get_data(as_text=True)
    assert admin_client.post(url, data={"sure": "y"}).status_code == 400  # no CSRF token
    done = admin_client.post(url, data={"csrf_token": token, "sure": "y"}, follow_redirects=True)
    assert "Die Person wurde gelöscht" in done.get_data(as_text=True)
    assert "bb@beispiel.de" not in done.get_data(as_text=True)
    with app.app_context():
        assert is_suppressed("bb@beispiel.de")
        assert db.session.get(Subscriber, people["b"]) is None


def test_an_admin_creates_renames_and_hides_topics(app, admin_client, client):
    page = admin_client.get("/admin/topics")
    token = hidden_fields(page.data)["csrf_token"]
    created = admin_client.post("/admin/topics", data={
        "csrf_token": token, "slug": "ki", "name": "Künstliche Intelligenz"},
        follow_redirects=True)
    assert "Künstliche Intelligenz" in created.get_data(as_text=True)
    assert "Künstliche Intelligenz" in client.get("/").get_data(as_text=True)
    with app.app_context():
        topic_id = db.session.scalar(select(Topic.id).where(Topic.slug == "ki"))
    admin_client.post(f"/admin/topics/{topic_id}/rename",
                      data={"csrf_token": token, "name": "KI & Daten"})
    admin_client.post(f"/admin/topics/{topic_id}/visibility",
                      data={"csrf_token": token, "hidden": "1"})
    public = client.get("/").get_data(as_text=True)
    assert "KI &amp; Daten" not in public and "Künstliche" not in public
    with app.app_context():
        topic = db.session.get(Topic, topic_id)
        assert (topic.name, topic.hidden) == ("KI & Daten", True)


@pytest.mark.parametrize("slug, message", [
    ("bildung", "schon vergeben"), ("Ä b", "a–z"),
])
def test_topic_slugs_are_checked(admin_client, slug, message):
    token = hidden_fields(admin_client.get("/admin/topics").data)["csrf_token"]
    answer = admin_client.post("/admin/topics", data={"csrf_token": token, "slug": slug,
                                                      "name": "Neu"})
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_dashboard_counts_are_cached_a_minute_and_refreshed_after_an_erase(app, admin_client,
                                                                           people):
    assert ">8<" in admin_client.get("/admin/").get_data(as_text=True).replace(" ", "")
    url = f"/admin/subscribers/{people['b']}/erase"
    token = hidden_fields(admin_client.get(url).data)["csrf_token"]
    admin_client.post(url, data={"csrf_token": token, "sure": "y"})
    with app.app_context():
        assert services.dashboard_stats().by_status[SubscriberStatus.CONFIRMED] == 7
