"""In headless chromium: subscribe, read the mail in the dev outbox, confirm, change
topics, unsubscribe. Screenshots of each page land in test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_person_subscribes_confirms_changes_topics_and_leaves(live_server, page):
    page.goto(live_server.url + "/")
    live_server.shot(page, "01-landing")
    page.get_by_label("E-Mail-Adresse").fill("jana@example.org")
    page.get_by_label("Name (freiwillig)").fill("Jana Schäfer")
    page.get_by_label("Gesundheit").check()
    page.get_by_label("Bildung").check()
    page.locator("input[name=consent]").check()
    page.get_by_role("button", name="Newsletter abonnieren").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("prüfen Sie Ihr Postfach")
    live_server.shot(page, "02-check-mail")

    page.get_by_role("link", name="Dev-Postausgang").click()
    for _ in range(50):  # the sender runs every 0.2 s; reload until the mail is there
        if page.locator(".mail").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator(".mail-subject").first).to_contain_text("Bitte bestätigen")
    live_server.shot(page, "03-dev-outbox")

    page.locator(".mail-text a", has_text="/confirm/").first.click()
    expect(page.get_by_role("button", name="Ja, Anmeldung bestätigen")).to_be_visible()
    live_server.shot(page, "04-confirm")
    page.get_by_role("button", name="Ja, Anmeldung bestätigen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Willkommen")
    live_server.shot(page, "05-welcome")

    page.get_by_role("link", name="Themen oder Namen ändern").click()
    expect(page.get_by_label("Gesundheit")).to_be_checked()
    page.get_by_label("IT", exact=True).check()
    page.get_by_label("Bildung").uncheck()
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("status")).to_contain_text("gespeichert")
    expect(page.get_by_label("IT", exact=True)).to_be_checked()
    expect(page.get_by_label("Bildung")).not_to_be_checked()
    live_server.shot(page, "06-preferences")

    page.get_by_role("link", name="Newsletter ganz abbestellen").click()
    live_server.shot(page, "07-unsubscribe")
    page.get_by_role("button", name="Jetzt abmelden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("abgemeldet")
    live_server.shot(page, "08-unsubscribed")
    assert re.search(r"/unsubscribe/", page.url)


def test_the_landing_page_works_on_a_phone(live_server, _browser):
    context = _browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/")
    form = page.locator("form").first
    box = form.bounding_box()
    assert box is not None and box["width"] <= 390  # no sideways scrolling
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    live_server.shot(page, "09-phone-landing")
    context.close()
