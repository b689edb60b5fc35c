"""In headless chromium, under the Content-Security-Policy every answer now carries: the
campaign editor (typing, desktop/phone, template skeleton), the archive copy and the
public pages work, and nothing is refused (the `page` fixture fails a test on any CSP
refusal). Screenshots land in test-artifacts/screenshots/csp-*.png."""

import re

import pytest
from playwright.sync_api import expect

from owlmail.campaigns import archive
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.extensions import db
from owlmail.timeutil import utcnow
from tests.support.browser import watch_csp
from tests.test_campaign_browser import log_in, mail_server, preview_shows  # noqa: F401

pytestmark = pytest.mark.browser


def publish(app, slug: str) -> None:
    """A sent campaign shown in the public archive."""
    with app.app_context():
        campaign = Campaign(
            subject="Digitalgipfel OWL: Rückblick", slug=slug, public=True,
            status=CampaignStatus.SENT, finished_at=utcnow(), template="digitalgipfel",
            body="## Rückblick\n\nZwölf neue **Pilotprojekte** starten.\n\n"
                 "| Thema | Projekte |\n|---|---|\n| Innovation | 12 |")
        db.session.add(campaign)
        db.session.flush()
        archive.publish(campaign)  # the copy the engine stores when sending starts
        db.session.commit()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_campaign_editor_works_under_the_policy(mail_server, page, lang):  # noqa: F811
    log_in(page, mail_server.url)
    page.goto(f"{mail_server.url}/admin/campaigns/new?lang={lang}")
    page.locator(".template-radio[value=digitalgipfel]").check()
    body = page.locator("#body")
    expect(body).to_have_value(re.compile("Themenfelder"))  # the template's skeleton
    preview_shows(page, "Themenfelder")
    body.fill("## Hallo {{ name }}\n\nEin Satz *mit* Stil.")
    preview_shows(page, "Ein Satz mit Stil.")
    page.locator("[data-width=phone]").click()
    expect(page.locator("#preview-frame")).to_have_css("width", "375px")
    mail_server.shot(page, f"csp-01-editor-phone-{lang}")
    page.locator("[data-width=desktop]").click()
    expect(page.locator("#preview-frame")).not_to_have_css("width", "375px")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_archive_copy_is_shown_and_sized_under_the_policy(mail_server, page, lang):  # noqa: F811
    publish(mail_server.app, "rueckblick")
    page.goto(f"{mail_server.url}/archive/rueckblick?lang={lang}")
    frame = page.frame_locator("#archive-frame")
    expect(frame.locator("body")).to_contain_text("Zwölf neue Pilotprojekte")
    # The mail keeps its inlined look (the band's colour); the page's script, now a file of
    # its own, sizes the frame to the mail.
    band = frame.locator(".band")
    expect(band).to_have_css("background-color", "rgb(0, 67, 90)")
    page.wait_for_function("""() => {
        const frame = document.getElementById("archive-frame");
        return parseInt(frame.style.height || "0", 10) > 300;  // set by the script
    }""")
    mail_server.shot(page, f"csp-02-archive-{lang}")


@pytest.mark.parametrize("path", ["/", "/contact?lang=en", "/archive", "/impressum",
                                  "/datenschutz?lang=en"])
def test_the_public_pages_show_without_refusals(mail_server, page, path):  # noqa: F811
    page.goto(mail_server.url + path)
    expect(page.locator("main")).to_be_visible()
    # The stylesheet applied: the header is not the browser's default transparent.
    header_bg = page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_bg != "rgba(0, 0, 0, 0)"
    name = path.strip("/").replace("?lang=", "-") or "index"
    mail_server.shot(page, f"csp-03-public-{name}")


def test_the_refusal_watch_sees_an_inline_style(mail_server, _browser):  # noqa: F811
    context = _browser.browser.new_context()  # unwatched: this test looks itself
    page = context.new_page()
    refusals = watch_csp(page)
    page.goto(mail_server.url + "/")
    with page.expect_console_message():
        page.evaluate("""() => { const s = document.createElement("style");
            s.textContent = "body { color: red }"; document.head.appendChild(s); }""")
    context.close()
    assert any("style" in text for text in refusals), refusals
