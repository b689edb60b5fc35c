"""Editors write a campaign in the browser pages, preview it, send a test that really
arrives, schedule it in Berlin time, and sent public campaigns appear in the archive."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from sqlalchemy import select

from owlmail.campaigns import archive
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.extensions import db
from owlmail.outbox.services import drain_outbox
from owlmail.timeutil import utcnow
from tests.conftest import log_in
from tests.support.pages import hidden_fields

BODY = "{% if name %}Guten Tag {{ name }},{% else %}Guten Tag,{% endif %}\n\n## Neues\n\nText."


def post_form(client, page: str, action: str, data: dict, **kwargs):
    """Post like a browser: the page's hidden fields (CSRF token) plus the data."""
    fields = hidden_fields(client.get(page).data)
    return client.post(action, data={**fields, **data}, **kwargs)


def create(client, **overrides):
    data = {"subject": "Neues aus OWL", "preheader": "Kurz gesagt", "body": BODY,
            "template": "standard", **overrides}
    response = post_form(client, "/admin/campaigns/new", "/admin/campaigns/new", data)
    assert response.status_code == 303, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def campaign(app, campaign_id: int) -> Campaign:
    with app.app_context():
        row = db.session.get(Campaign, campaign_id)
        row.topics  # noqa: B018 (loaded before the session closes)
        db.session.expunge_all()
        return row


def mark_sent(app, campaign_id: int, when: datetime | None = None) -> None:
    """What the delivery engine does to a campaign: its archive copy, then done."""
    with app.app_context():
        row = db.session.get(Campaign, campaign_id)
        archive.publish(row)
        row.status = CampaignStatus.SENT
        row.send_at = row.finished_at = when or utcnow()
        db.session.commit()


def test_pages_are_for_editors_only(client):
    assert client.get("/admin/campaigns").status_code in (302, 401)
    assert client.post("/admin/campaigns/preview").status_code in (302, 400, 401)


def test_an_editor_creates_a_campaign_for_chosen_topics(app, editor_client):
    campaign_id = create(editor_client, topics=["bildung", "it"])
    stored = campaign(app, campaign_id)
    assert stored.status == CampaignStatus.DRAFT
    assert stored.body == BODY
    assert sorted(t.slug for t in stored.topics) == ["bildung", "it"]

    listing = editor_client.get("/admin/campaigns").text
    assert "Neues aus OWL" in listing
    assert "Entwurf" in listing
    assert "Bildung, IT" in listing


def test_no_topic_means_everyone(editor_client):
    create(editor_client)
    assert "Alle bestätigten Abonnenten" in editor_client.get("/admin/campaigns").text


def test_the_digitalgipfel_template_prefills_a_skeleton(editor_client):
    page = editor_client.get("/admin/campaigns/new?template=digitalgipfel").text
    for part in ("## Themenfelder", "### Innovation", "### Bildung", "### Gründung",
                 "### Digitale Infrastruktur", "### Industrie", "### Bauen",
                 "### Gesundheit", "### IT", "Zahlen und Fakten", "Ansprechpartnerin",
                 "http://owlmail.test/contact"):
        assert part in page
    radio = re.search(r'<input[^>]*value="digitalgipfel"[^>]*>', page).group(0)
    assert "checked" in radio


def test_the_editor_page_shows_a_sandboxed_preview(editor_client):
    campaign_id = create(editor_client)
    page = editor_client.get(f"/admin/campaigns/{campaign_id}").text
    frame = re.search(r"<iframe[^>]*id=\"preview-frame\"[^>]*>", page).group(0)
    assert 'sandbox=""' in frame
    assert "Guten Tag Erika Mustermann," in frame  # the escaped srcdoc
    assert "Guten Tag Erika Mustermann," in page  # the text tab


@pytest.mark.parametrize("expression", ["{{ config }}", "{{ name.upper() }}",
                                        "{% for x in range(3) %}{% endfor %}"])
def test_a_refused_expression_is_named_and_nothing_is_saved(app, editor_client, expression):
    response = post_form(editor_client, "/admin/campaigns/new", "/admin/campaigns/new",
                         {"subject": "Böse", "body": f"Hallo\n{expression}",
                          "template": "standard"})
    assert response.status_code == 422
    message = re.search(r'<p class="error" id="body-error"[^>]*>([^<]*)', response.text)
    assert expression.split("%}")[0].replace("'", "&#39;") in message.group(1)
    assert "Zeile 2" in message.group(1)
    assert 'name="body"' in response.text and "Hallo" in response.text  # input kept
    with app.app_context():
        assert db.session.scalar(select(Campaign)) is None


def test_an_oversized_body_gets_a_clear_message(make_app, make_editor):
    app = make_app(CAMPAIGN_BODY_MAX_LENGTH=500)
    client = app.test_client()
    log_in(client, make_editor())
    response = post_form(client, "/admin/campaigns/new", "/admin/campaigns/new",
                         {"subject": "Lang", "body": "x" * 501, "template": "standard"})
    assert response.status_code == 413
    assert "zu lang" in response.text


def test_a_subject_with_a_line_break_is_refused(editor_client):
    response = post_form(editor_client, "/admin/campaigns/new", "/admin/campaigns/new",
                         {"subject": "Hallo\r\nBcc: x@example.org", "body": "Text",
                          "template": "standard"})
    assert response.status_code == 422
    assert "Steuerzeichen" in response.text


def test_editing_saves_and_keeps_the_campaign(app, editor_client):
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(editor_client, page, page, {
        "subject": "Neuer Betreff", "body": "Neuer Text", "template": "digitalgipfel",
        "topics": ["gesundheit"]})
    assert response.status_code == 303
    stored = campaign(app, campaign_id)
    assert (stored.subject, stored.body, stored.template) == ("Neuer Betreff", "Neuer Text",
                                                              "digitalgipfel")
    assert [t.slug for t in stored.topics] == ["gesundheit"]


def test_live_preview_renders_the_unsaved_form(editor_client):
    fields = hidden_fields(editor_client.get("/admin/campaigns/new").data)
    response = editor_client.post("/admin/campaigns/preview", data={
        **fields, "subject": "Vorschau", "body": "## Hallo {{ name }}\n\n<script>x()</script>",
        "template": "digitalgipfel", "topics": ["bildung"]})
    assert response.status_code == 200
    assert "Hallo Erika Mustermann" in response.json["html"]
    assert "<script" not in response.json["html"]
    assert "Digitalgipfel OWL – Ergebnisse" in response.json["html"]
    assert "Hallo Erika Mustermann" in response.json["text"]
    assert "zum Thema Bildung" in " ".join(response.json["text"].split())


def test_live_preview_names_a_refused_expression(editor_client):
    fields = hidden_fields(editor_client.get("/admin/campaigns/new").data)
    response = editor_client.post("/admin/campaigns/preview", data={
        **fields, "subject": "X", "body": "{{ config.SECRET_KEY }}", "template": "standard"})
    assert response.status_code == 422
    assert "{{ config.SECRET_KEY }}" in response.json["error"]["message"]


def test_live_preview_needs_the_csrf_token(editor_client):
    response = editor_client.post("/admin/campaigns/preview", data={"body": "x"})
    assert response.status_code == 400


def test_a_test_send_arrives_with_the_newsletter_headers(smtp_app, smtp, make_editor):
    client = smtp_app.test_client()
    log_in(client, make_editor())
    campaign_id = create(client, topics=["innovation"])
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(client, page, f"{page}/test",
                         {"test-emails": "pruefer@example.org, Zweite@Example.org"})
    assert response.status_code == 303
    assert "Testversand" in client.get(page).text
    with smtp_app.app_context():
        drain_outbox()

    for address in ("pruefer@example.org", "Zweite@example.org"):
        [mail] = smtp.messages_to(address) or smtp.messages_to(address.lower())
        assert mail.get_content_type() == "multipart/alternative"
        assert mail["Subject"] == "[TEST] Neues aus OWL"
        assert mail["List-Unsubscribe"].startswith("<http")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["List-Id"]
        assert mail["Message-ID"]
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "Guten Tag Erika Mustermann," in text
        assert "<h2" in html and "style=" in html
        assert "zum Thema Innovation" in " ".join(text.split())
    ids = {m["Message-ID"] for m in smtp.messages_to("pruefer@example.org")}
    assert len(ids) == 1


@pytest.mark.parametrize("emails, message", [
    ("a@example.org, b@example.org, c@example.org, d@example.org, e@example.org, "
     "f@example.org", "höchstens fünf"),
    ("kein-at-zeichen", "kein-at-zeichen"),
    ("", "mindestens eine"),
])
def test_test_send_addresses_are_checked(app, editor_client, emails, message):
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(editor_client, page, f"{page}/test", {"test-emails": emails})
    assert response.status_code == 422
    assert message in response.text
    from owlmail.outbox.models import OutboxMail
    with app.app_context():
        assert db.session.scalar(select(OutboxMail)) is None


@pytest.mark.parametrize("local, expected_utc", [
    ("2031-06-03T09:00", datetime(2031, 6, 3, 7, 0)),  # summer time: UTC+2
    ("2031-12-02T09:00", datetime(2031, 12, 2, 8, 0)),  # winter time: UTC+1
])
def test_schedule_tuesday_nine_berlin_is_stored_as_utc(app, editor_client, local,
                                                        expected_utc):
    assert datetime.fromisoformat(local).strftime("%A") == "Tuesday"
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(editor_client, page, f"{page}/schedule", {"schedule-send_at": local})
    assert response.status_code == 303
    stored = campaign(app, campaign_id)
    assert stored.status == CampaignStatus.SCHEDULED
    assert stored.send_at == expected_utc
    listing = editor_client.get("/admin/campaigns").text
    assert "09:00" in listing and "geplant" in listing


@pytest.mark.parametrize("value, message", [
    ("2001-01-02T09:00", "Vergangenheit"),
    ("morgen früh", "Datum und Uhrzeit"),
])
def test_a_bad_send_time_is_refused(app, editor_client, value, message):
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(editor_client, page, f"{page}/schedule", {"schedule-send_at": value})
    assert response.status_code == 422
    assert message in response.text
    assert campaign(app, campaign_id).status == CampaignStatus.DRAFT


def test_send_now_pause_resume_cancel_and_duplicate(app, editor_client):
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    assert 'data-confirm="Die Kampagne jetzt' in editor_client.get(page).text

    assert post_form(editor_client, page, f"{page}/send-now", {}).status_code == 303
    stored = campaign(app, campaign_id)
    assert stored.status == CampaignStatus.SCHEDULED
    assert abs((stored.send_at - utcnow()).total_seconds()) < 60

    post_form(editor_client, page, f"{page}/pause", {})
    assert campaign(app, campaign_id).status == CampaignStatus.PAUSED
    post_form(editor_client, page, f"{page}/resume", {})
    assert campaign(app, campaign_id).status == CampaignStatus.SCHEDULED
    post_form(editor_client, page, f"{page}/cancel", {})
    assert campaign(app, campaign_id).status == CampaignStatus.CANCELLED

    # A cancelled campaign cannot be resumed: a German message, no 500.
    response = post_form(editor_client, page, f"{page}/resume", {}, follow_redirects=True)
    assert response.status_code == 200
    assert "abgebrochen" in response.text

    response = post_form(editor_client, page, f"{page}/duplicate", {})
    copy_id = int(response.headers["Location"].rsplit("/", 1)[1])
    copy = campaign(app, copy_id)
    assert copy.status == CampaignStatus.DRAFT
    assert copy.subject == "Kopie von Neues aus OWL"


def test_actions_need_the_csrf_token(app, editor_client):
    campaign_id = create(editor_client)
    response = editor_client.post(f"/admin/campaigns/{campaign_id}/send-now")
    assert response.status_code == 400
    assert campaign(app, campaign_id).status == CampaignStatus.DRAFT


def test_sent_public_campaigns_appear_in_the_archive_newest_first(app, editor_client):
    older = create(editor_client, subject="Frühjahr in OWL", public="y")
    newer = create(editor_client, subject="Ergebnisse des Digitalgipfels", public="y",
                   body="Hallo {{ name }}! [Abmelden]({{ unsubscribe_url }}) {{ email }}")
    private = create(editor_client, subject="Nur intern")
    unsent = create(editor_client, subject="Noch nicht raus", public="y")
    mark_sent(app, older, datetime(2026, 3, 1, 8))
    mark_sent(app, newer, datetime(2026, 11, 3, 8))
    mark_sent(app, private)

    listing = editor_client.get("/archive").text
    assert listing.index("Ergebnisse des Digitalgipfels") < listing.index("Frühjahr in OWL")
    assert "Nur intern" not in listing and "Noch nicht raus" not in listing
    assert 'rel="alternate" type="application/atom+xml"' in listing

    slug = campaign(app, newer).slug
    assert slug == "ergebnisse-des-digitalgipfels"
    public_page = app.test_client().get(f"/archive/{slug}")
    assert public_page.status_code == 200
    assert "/unsubscribe/" not in public_page.text and "/preferences/" not in public_page.text
    assert "Newsletter abonnieren" in public_page.text
    assert app.test_client().get(f"/archive/{campaign(app, unsent).slug}").status_code == 404
    assert app.test_client().get("/archive/gibt-es-nicht").status_code == 404


def test_the_atom_feed_lists_the_archive(app, editor_client):
    campaign_id = create(editor_client, subject="Ergebnisse <&> mehr", public="y",
                         body="## Themen\n\nHallo {{ name }}")
    mark_sent(app, campaign_id)
    response = app.test_client().get("/archive/feed.xml")
    assert response.status_code == 200
    assert response.content_type.startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.fromstring(response.data)  # noqa: S314 (our own feed)
    [entry] = feed.findall("a:entry", ns)
    assert entry.find("a:title", ns).text == "Ergebnisse <&> mehr"
    link = entry.find("a:link", ns).get("href")
    assert link.startswith("http://owlmail.test/archive/ergebnisse-mehr")
    assert "<h2>Themen</h2>" in entry.find("a:content", ns).text


def test_a_sent_campaign_can_be_put_in_the_archive_afterwards(app, editor_client):
    campaign_id = create(editor_client, subject="Später öffentlich")
    mark_sent(app, campaign_id)
    page = f"/admin/campaigns/{campaign_id}"
    assert "kann nicht mehr bearbeitet werden" in editor_client.get(page).text
    post_form(editor_client, page, f"{page}/public", {"public": "y"})
    stored = campaign(app, campaign_id)
    assert stored.public and stored.slug == "spaeter-oeffentlich"
    assert "Später öffentlich" in editor_client.get("/archive").text


def test_a_two_megabyte_post_gets_a_german_413(editor_client):
    fields = hidden_fields(editor_client.get("/admin/campaigns/new").data)
    response = editor_client.post("/admin/campaigns/new", data={
        **fields, "subject": "Groß", "body": "x" * 2_000_000, "template": "standard"})
    assert response.status_code == 413
    assert "zu groß" in response.text


def test_a_test_send_to_an_idn_address_arrives(smtp_app, smtp, make_editor):
    client = smtp_app.test_client()
    log_in(client, make_editor())
    campaign_id = create(client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(client, page, f"{page}/test", {"test-emails": "leser@bücher.example"})
    assert response.status_code == 303
    with smtp_app.app_context():
        drain_outbox()
    [mail] = smtp.messages_to("leser@xn--bcher-kva.example")
    assert mail["Subject"] == "[TEST] Neues aus OWL"


def test_header_injection_in_test_addresses_is_refused(app, editor_client):
    campaign_id = create(editor_client)
    page = f"/admin/campaigns/{campaign_id}"
    response = post_form(editor_client, page, f"{page}/test",
                         {"test-emails": "a@example.org\r\nBcc: boss@example.org"})
    assert response.status_code == 422
    assert "Bcc" in response.text


def test_progress_of_a_sending_campaign_refreshes_itself(app, editor_client):
    campaign_id = create(editor_client)
    assert 'http-equiv="refresh"' not in editor_client.get("/admin/campaigns").text
    with app.app_context():
        row = db.session.get(Campaign, campaign_id)
        row.status = CampaignStatus.SENDING
        row.started_at = utcnow()
        row.recipients_count, row.sent_count, row.failed_count = 1000, 300, 2
        db.session.commit()
    for page in ("/admin/campaigns", f"/admin/campaigns/{campaign_id}"):
        html = editor_client.get(page).text
        assert 'http-equiv="refresh"' in html
        assert "300 von 1.000 versendet" in html
        assert "2 fehlgeschlagen" in html
        assert "698 ausstehend" in html
        assert "wird versendet" in html


def test_test_sends_from_the_page_are_rate_limited_per_editor(make_app, make_editor):
    app = make_app(RATELIMIT_ENABLED=True, API_TEST_SEND_RATE_LIMIT="2/hour")
    client = app.test_client()
    log_in(client, make_editor())
    campaign_id = create(client)
    page = f"/admin/campaigns/{campaign_id}"
    answers = [post_form(client, page, f"{page}/test", {"test-emails": "t@example.org"})
               .status_code for _ in range(3)]
    assert answers == [303, 303, 429]
