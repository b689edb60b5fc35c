"""The public archive serves a stored copy of each sent issue: rendered once when sending
starts, re-rendered only on purpose (command or button), and kept by browsers and proxies."""

from datetime import timedelta

import pytest

from owlmail.campaigns.models import ArchiveCopy, Campaign
from owlmail.delivery.services import start_due_campaign
from owlmail.extensions import db
from owlmail.timeutil import utcnow
from tests.support.campaigns import add_campaign
from tests.test_campaign_pages import campaign, create, mark_sent, post_form

BODY = "{% if name %}Hallo {{ name }},{% else %}Hallo,{% endif %}\n\n## Ergebnisse\n\nDer Gipfel."


@pytest.fixture
def issue(app, editor_client) -> tuple[int, str]:
    """A public campaign that was sent: (id, archive address)."""
    campaign_id = create(editor_client, subject="Ergebnisse des Gipfels", public="y", body=BODY)
    mark_sent(app, campaign_id)
    return campaign_id, f"/archive/{campaign(app, campaign_id).slug}"


def change_body_behind_the_editor(app, campaign_id: int, body: str) -> None:
    """What a later edit of the mail layout amounts to: the source differs from the copy."""
    with app.app_context():
        db.session.get(Campaign, campaign_id).body = body
        db.session.commit()


def test_a_campaign_gets_its_archive_copy_when_sending_starts(app):
    with app.app_context():
        campaign_id = add_campaign(body="Hallo {{ name }}, [abmelden]({{ unsubscribe_url }})")
        assert db.session.get(ArchiveCopy, campaign_id) is None
        started = start_due_campaign()
        db.session.commit()
        copy = db.session.get(ArchiveCopy, campaign_id)
        assert started.id == campaign_id and copy is not None
        assert "Hallo ," in copy.text and "/unsubscribe/" not in copy.html
        assert "<p>Hallo" in copy.feed_html and len(copy.digest) == 64


def test_a_visit_reads_the_stored_copy_and_renders_nothing(app, client, issue):
    campaign_id, address = issue
    change_body_behind_the_editor(app, campaign_id, "## Neu gesetzt")
    page = client.get(address).text
    assert "Ergebnisse" in page and "Neu gesetzt" not in page
    feed = client.get("/archive/feed.xml").text
    assert "Ergebnisse" in feed and "Neu gesetzt" not in feed


def test_the_command_renders_the_copy_again_on_purpose(app, client, issue):
    campaign_id, address = issue
    change_body_behind_the_editor(app, campaign_id, "## Neu gesetzt")
    result = app.test_cli_runner().invoke(args=["campaigns", "rerender", str(campaign_id)])
    assert result.exit_code == 0, result.output
    assert "Archivkopien neu erstellt: 1." in result.output
    assert "Neu gesetzt" in client.get(address).text
    assert "Neu gesetzt" in client.get("/archive/feed.xml").text


def test_the_command_without_id_renders_every_started_campaign(app, editor_client, issue):
    draft = create(editor_client, subject="Noch ein Entwurf")
    result = app.test_cli_runner().invoke(args=["campaigns", "rerender"])
    assert result.exit_code == 0, result.output
    assert "Archivkopien neu erstellt: 1." in result.output
    with app.app_context():
        assert db.session.get(ArchiveCopy, draft) is None


@pytest.mark.parametrize(("argument", "says"), [
    ("999", "Keine Kampagne mit der Nummer 999"),
    ("draft", "erst, wenn der Versand begonnen hat"),
])
def test_the_command_refuses_what_has_no_copy(app, editor_client, argument, says):
    draft = create(editor_client, subject="Entwurf")
    number = str(draft) if argument == "draft" else argument
    result = app.test_cli_runner().invoke(args=["campaigns", "rerender", number])
    assert result.exit_code != 0
    assert says in result.output


def test_an_editor_renders_the_copy_again_with_a_button(app, editor_client, client, issue):
    campaign_id, address = issue
    change_body_behind_the_editor(app, campaign_id, "## Neu gesetzt")
    page = f"/admin/campaigns/{campaign_id}"
    assert "Archivkopie neu erstellen" in editor_client.get(page).text
    response = post_form(editor_client, page, f"{page}/rerender", {}, follow_redirects=True)
    assert "Die Archivkopie wurde neu erstellt." in response.text
    assert "Neu gesetzt" in client.get(address).text


def test_a_draft_has_no_copy_to_render_again(editor_client):
    draft = create(editor_client)
    page = f"/admin/campaigns/{draft}"
    assert "Archivkopie neu erstellen" not in editor_client.get(page).text
    response = post_form(editor_client, page, f"{page}/rerender", {}, follow_redirects=True)
    assert "erst, wenn der Versand begonnen hat" in response.text


def test_the_button_needs_the_csrf_token(editor_client, issue):
    campaign_id, _ = issue
    assert editor_client.post(f"/admin/campaigns/{campaign_id}/rerender").status_code == 400


@pytest.mark.parametrize("which", ["page", "/archive", "/archive/feed.xml"])
def test_anonymous_archive_answers_can_be_kept_and_revalidated(client, issue, which):
    address = issue[1] if which == "page" else which
    first = client.get(address)
    assert first.status_code == 200
    assert first.cache_control.public and first.cache_control.max_age == 300
    assert first.headers["ETag"] and first.last_modified
    assert "Cookie" in first.headers["Vary"]

    again = client.get(address, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = client.get(address, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304


def test_a_new_copy_answers_a_stale_conditional_request_in_full(app, client, issue):
    campaign_id, address = issue
    first = client.get(address)
    change_body_behind_the_editor(app, campaign_id, "## Neu gesetzt")
    app.test_cli_runner().invoke(args=["campaigns", "rerender", str(campaign_id)])
    again = client.get(address, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and "Neu gesetzt" in again.text


def test_an_older_if_modified_since_gets_the_page(client, issue):
    earlier = (utcnow() - timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    response = client.get(issue[1], headers={"If-Modified-Since": earlier})
    assert response.status_code == 200


def test_an_editors_archive_view_is_not_kept_by_proxies(editor_client, issue):
    response = editor_client.get(issue[1])
    assert response.status_code == 200
    assert not response.cache_control.public and response.cache_control.private


def test_choosing_the_language_by_link_is_not_kept_by_proxies(client, issue):
    response = client.get(issue[1] + "?lang=en")
    assert response.cache_control.private and "set-cookie" in response.headers
    assert "Subscribe to the newsletter" in response.text
