"""In headless chromium: a reader writes to the team, the mail arrives at a real SMTP
server through the live server's own sender, and an editor handles it in the inbox."""

from email.utils import getaddresses

import pytest
from playwright.sync_api import expect

from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.extensions import db
from owlmail.scheduler import EXTENSION_KEY, start_scheduler
from tests.support.browser import LiveServer, start_live_server
from tests.support.pages import wait_for

pytestmark = pytest.mark.browser

EDITOR = ("redaktion@owl-morgen.de", "richtig-langes-passwort")


@pytest.fixture
def mailing_server(make_app, smtp):
    """The live server, scheduler running, delivering to the loopback SMTP server."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, OUTBOX_POLL_SECONDS=0.2,
                   CAMPAIGN_POLL_SECONDS=0.5)
    with app.app_context():
        create_editor(EDITOR[0], EDITOR[1], Role.EDITOR)
        db.session.commit()
    server, thread = start_live_server(app)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    start_scheduler(app)
    yield LiveServer(app, url)
    app.extensions.pop(EXTENSION_KEY).shutdown(wait=True)
    server.shutdown()
    thread.join(5)


def test_a_reader_sends_an_idea_and_an_editor_handles_it(mailing_server, smtp, page):
    page.goto(mailing_server.url + "/")
    page.locator("footer").get_by_role("link", name="Kontakt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ideen zum Digitalgipfel")
    page.get_by_label("Ihr Name").fill("Jana Schäfer")
    page.get_by_label("Ihre E-Mail-Adresse").fill("jana@example.org")
    page.get_by_label("Thema (freiwillig)").select_option(label="Bildung")
    page.get_by_label("Ihre Nachricht oder Idee").fill(
        "Wie wäre ein Makerspace in jeder Schule in OWL?\n<b>Viele Grüße</b>")
    page.locator("input[name=consent]").check()
    mailing_server.shot(page, "contact-01-form")
    page.get_by_role("button", name="Nachricht senden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Vielen Dank")
    mailing_server.shot(page, "contact-02-thanks")

    [mail] = wait_for(lambda: smtp.messages_to("info@owl-morgen.de"))
    assert getaddresses([mail["Reply-To"]]) == [("Jana Schäfer", "jana@example.org")]
    assert mail["Subject"] == "Kontaktformular: Idee zu Bildung"
    assert "Makerspace in jeder Schule" in mail.get_content()
    assert [r.recipients for r in smtp.received] == [["info@owl-morgen.de"]]

    page.goto(mailing_server.url + "/admin/contact/")
    page.get_by_label("E-Mail-Adresse").fill(EDITOR[0])
    page.get_by_label("Passwort").fill(EDITOR[1])
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kontaktnachrichten")
    expect(page.locator("table.list")).to_contain_text("<b>Viele Grüße</b>")
    mailing_server.shot(page, "contact-03-inbox")

    page.get_by_role("link", name="Jana Schäfer").click()
    reply = page.get_by_role("link", name="Antworten im E-Mail-Programm")
    assert reply.get_attribute("href").startswith("mailto:jana@example.org?subject=Re%3A")
    mailing_server.shot(page, "contact-04-detail")
    page.get_by_role("button", name="Als erledigt markieren").click()
    expect(page.get_by_role("status")).to_contain_text("erledigt")
    page.get_by_label("Status").select_option("handled")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator("table.list")).to_contain_text("Jana Schäfer")
    mailing_server.shot(page, "contact-05-handled")


def test_the_contact_form_works_on_a_phone(mailing_server, _browser):
    context = _browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(mailing_server.url + "/contact")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Nachricht senden").click()
    expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie")
    expect(page.get_by_label("Ihr Name")).to_have_attribute("aria-invalid", "true")
    mailing_server.shot(page, "contact-06-phone-errors")
    context.close()
