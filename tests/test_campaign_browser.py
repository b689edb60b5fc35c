"""In headless chromium: an editor logs in, composes a campaign from the Digitalgipfel
template with the live preview (desktop and phone), sends a test, schedules it for a
Tuesday 9:00 in Berlin, then sends it now — and the mails arrive at a real SMTP server.
Screenshots land in test-artifacts/screenshots/campaign-*.png."""

from datetime import datetime

import pytest
from playwright.sync_api import expect

from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.extensions import db
from owlmail.scheduler import EXTENSION_KEY, start_scheduler
from owlmail.subscriptions.models import Subscriber, SubscriberStatus, Topic
from owlmail.timeutil import utcnow
from tests.support.browser import SCREENSHOTS, LiveServer, click_settled, start_live_server
from tests.support.pages import wait_for

pytestmark = pytest.mark.browser

EDITOR = ("redaktion@owl-morgen.de", "richtig-langes-passwort")


@pytest.fixture
def mail_server(make_app, make_editor, smtp):
    """The app on a loopback port, its scheduler and sender delivering to `smtp`."""
    make_editor(*EDITOR)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, OUTBOX_POLL_SECONDS=0.2,
                   CAMPAIGN_POLL_SECONDS=0.3)
    server, thread = start_live_server(app)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    start_scheduler(app)
    yield LiveServer(app, app.config["BASE_URL"])
    app.extensions.pop(EXTENSION_KEY).shutdown(wait=True)
    server.shutdown()
    thread.join(5)


def add_reader(app, email: str, name: str, topic_slug: str) -> None:
    with app.app_context():
        topic = db.session.query(Topic).filter_by(slug=topic_slug).one()
        db.session.add(Subscriber(email=email, email_key=email, name=name, topics=[topic],
                                  status=SubscriberStatus.CONFIRMED, confirmed_at=utcnow()))
        db.session.commit()


def stored(app) -> Campaign:
    with app.app_context():
        campaign = db.session.query(Campaign).one()
        db.session.expunge_all()
        return campaign


def log_in(page, url: str) -> None:
    page.goto(url + "/admin/login")
    page.locator("input[name=email]").fill(EDITOR[0])
    page.locator("input[name=password]").fill(EDITOR[1])
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda u: "/login" not in u)


def preview_shows(page, text: str) -> None:
    expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text(text)


def test_an_editor_composes_previews_tests_schedules_and_sends(mail_server, page, smtp):
    add_reader(mail_server.app, "leser@example.org", "Lea Leserin", "innovation")
    add_reader(mail_server.app, "anderes@example.org", "Otto Anders", "bauen")
    log_in(page, mail_server.url)

    page.goto(mail_server.url + "/admin/campaigns")
    page.get_by_role("link", name="Neu aus Vorlage „Digitalgipfel – Ergebnisse“").click()
    body = page.locator("#body")
    assert "### Innovation" in body.input_value()
    assert "/contact" in body.input_value()
    page.get_by_label("Betreff", exact=True).fill("Digitalgipfel OWL: die Ergebnisse")
    page.get_by_label("Vorschautext", exact=False).fill("Was wir gemeinsam angestoßen haben")
    page.get_by_label("Innovation").check()
    # The segment section is closed but shows it can be opened (its disclosure triangle).
    segment = page.locator("details.segment")
    expect(segment.locator("summary")).to_have_css("display", "list-item")
    segment.locator("summary").click()
    expect(segment).to_have_attribute("open", "")
    page.get_by_label("Nach dem Versand im öffentlichen Archiv zeigen").check()
    body.fill(body.input_value().replace(
        "[Ergebnisse und nächste Schritte zu Innovation]",
        "Zwölf neue **Pilotprojekte** starten im Frühjahr."))

    # The live preview follows the typing: sample name, the new text, the topic reason.
    preview_shows(page, "Zwölf neue Pilotprojekte starten im Frühjahr.")
    preview_shows(page, "Guten Tag Erika Mustermann,")
    preview_shows(page, "zum Thema Innovation")
    shot = mail_server.shot
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    shot(page, "campaign-01-editor-desktop")

    page.get_by_role("button", name="Handy").click()
    expect(page.locator("#preview-frame")).to_have_css("width", "375px")
    shot(page, "campaign-02-editor-phone-width")
    pane_shot = SCREENSHOTS / "campaign-03-preview-phone.png"
    page.locator(".preview-pane").screenshot(path=str(pane_shot))
    page.get_by_role("tab", name="Text").click()
    expect(page.locator("#preview-text")).to_contain_text("Zwölf neue Pilotprojekte")
    expect(page.locator("#preview-frame")).to_be_hidden()
    page.get_by_role("tab", name="HTML").click()
    page.get_by_role("button", name="Desktop").click()

    # A refused expression shows the German message at once, naming it.
    body.press("End")
    body.type("\n{{ config }}")
    expect(page.locator("#preview-error")).to_contain_text("{{ config }}")
    body.fill(body.input_value().replace("\n{{ config }}", ""))
    expect(page.locator("#preview-error")).to_be_hidden()

    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("status").first).to_contain_text("gespeichert")

    page.get_by_label("Testversand an", exact=False).fill("pruefung@example.org")
    page.get_by_role("button", name="Test senden").click()
    expect(page.get_by_role("status").first).to_contain_text("pruefung@example.org")
    test_mail = wait_for(lambda: smtp.messages_to("pruefung@example.org"))[0]
    assert test_mail["Subject"] == "[TEST] Digitalgipfel OWL: die Ergebnisse"
    assert test_mail.get_content_type() == "multipart/alternative"
    assert test_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Zwölf neue Pilotprojekte" in test_mail.get_body(("plain",)).get_content()

    page.get_by_label("Versand am", exact=False).fill("2031-06-03T09:00")
    click_settled(page.get_by_role("button", name="Versand planen"))
    expect(page.get_by_role("status").first).to_contain_text("03.06.2031 um 09:00 Uhr")
    assert stored(mail_server.app).send_at == datetime(2031, 6, 3, 7, 0)  # UTC, summer time
    expect(page.get_by_label("Versand am", exact=False)).to_have_value("2031-06-03T09:00")
    shot(page, "campaign-04-scheduled")

    page.once("dialog", lambda dialog: dialog.accept())
    click_settled(page.get_by_role("button", name="Jetzt senden"))
    expect(page.get_by_role("status").first).to_contain_text("Versand beginnt")

    mail = wait_for(lambda: smtp.messages_to("leser@example.org"), timeout=20)[0]
    assert mail["Subject"] == "Digitalgipfel OWL: die Ergebnisse"
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["List-Unsubscribe"].startswith(f"<{mail_server.url}/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Id"] and mail["Message-ID"]
    text = mail.get_body(("plain",)).get_content()
    assert "Guten Tag Lea Leserin," in text
    assert "/preferences/" in text
    assert not smtp.messages_to("anderes@example.org")  # not in the audience
    wait_for(lambda: stored(mail_server.app).status == CampaignStatus.SENT, timeout=20)

    page.goto(mail_server.url + "/admin/campaigns")
    expect(page.locator(".campaign-list")).to_contain_text("versendet")
    shot(page, "campaign-05-list")
    page.get_by_role("link", name="Digitalgipfel OWL: die Ergebnisse").click()
    expect(page.locator(".campaign-progress")).to_contain_text("1 von 1 versendet")
    expect(page.locator("#subject")).to_be_disabled()
    shot(page, "campaign-05b-sent")
    click_settled(page.get_by_role("button", name="Archivkopie neu erstellen"))
    expect(page.get_by_role("status").first).to_contain_text("Archivkopie wurde neu erstellt")
    page.goto(page.url + "?lang=en")
    expect(page.get_by_role("button", name="Render archive copy again")).to_be_visible()
    shot(page, "campaign-05c-sent-en")
    page.goto(page.url.split("?")[0] + "?lang=de")

    page.goto(mail_server.url + "/archive")
    page.get_by_role("link", name="Digitalgipfel OWL: die Ergebnisse").click()
    expect(page.frame_locator("#archive-frame").locator("body")).to_contain_text(
        "Zwölf neue Pilotprojekte")
    expect(page.frame_locator("#archive-frame").locator("body")).not_to_contain_text(
        "Lea Leserin")
    shot(page, "campaign-06-archive")
    page.goto(page.url + "?lang=en")
    expect(page.frame_locator("#archive-frame").locator("body")).to_contain_text(
        "Zwölf neue Pilotprojekte")
    shot(page, "campaign-06b-archive-en")


def test_the_editor_is_usable_on_a_phone(mail_server, _browser):
    context = _browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, mail_server.url)
        page.goto(mail_server.url + "/admin/campaigns/new?template=digitalgipfel")
        expect(page.get_by_label("Betreff", exact=True)).to_be_visible()
        preview_shows(page, "Themenfelder")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        mail_server.shot(page, "campaign-07-editor-on-phone")
        page.locator(".preview-pane").scroll_into_view_if_needed()
        page.locator(".preview-pane").screenshot(
            path=str(SCREENSHOTS / "campaign-08-preview-on-phone.png"))
    finally:
        context.close()
