"""In headless chromium: a visitor switches to English, signs up, and confirms in English.
Screenshots land in test-artifacts/screenshots/ (i18n-*)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_english_visitor_signs_up_and_confirms(live_server, _browser):
    context = _browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "de")  # German despite en-GB

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "The digital future of East Westphalia-Lippe – straight to your inbox")
    live_server.shot(page, "i18n-01-landing-en")

    page.get_by_role("button", name="Subscribe to the newsletter").click()
    expect(page.get_by_role("alert")).to_have_text("Please check the highlighted fields.")
    expect(page.get_by_text("Please enter your email address.")).to_be_visible()
    live_server.shot(page, "i18n-02-errors-en")

    page.get_by_label("Email address").fill("sam@example.org")
    page.get_by_label("Name (optional)").fill("Sam Taylor")
    page.get_by_label("Health").check()
    page.get_by_label("Start-ups").check()
    page.locator("input[name=consent]").check()
    page.get_by_role("button", name="Subscribe to the newsletter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Almost done – please check your inbox")

    page.get_by_role("link", name="dev outbox").click()
    for _ in range(50):  # the sender runs every 0.2 s; reload until the mail is there
        if page.locator(".mail").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator(".mail-subject").first).to_contain_text(
        "Please confirm your subscription to the OWL morgen newsletter")

    page.locator(".mail-text a", has_text="/confirm/").first.click()
    expect(page.get_by_role("button", name="Yes, confirm my subscription")).to_be_visible()
    live_server.shot(page, "i18n-03-confirm-en")
    page.get_by_role("button", name="Yes, confirm my subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to OWL morgen!")
    expect(page.locator(".tags")).to_contain_text("Health")
    live_server.shot(page, "i18n-04-welcome-en")

    page.get_by_role("link", name="Privacy").click()
    expect(page.get_by_text("the legally binding one")).to_be_visible()
    live_server.shot(page, "i18n-05-privacy-en")
    page.get_by_role("link", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Datenschutzhinweise")
    context.close()


def test_the_english_landing_page_fits_a_phone(live_server, _browser):
    context = _browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/?lang=en")
    expect(page.get_by_role("heading", level=2)).to_have_text("Sign up now")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    live_server.shot(page, "i18n-06-phone-landing-en")
    context.close()


def test_an_english_visitor_writes_through_the_contact_form(live_server, page):
    page.goto(live_server.url + "/contact?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your comments and ideas on the Digitalgipfel OWL")
    expect(page.get_by_label("Topic (optional)")).to_have_value("")
    expect(page.locator("select[name=topic] option").first).to_have_text(
        "– no particular topic –")
    page.get_by_label("Your name").fill("Sam Taylor")
    page.get_by_label("Your email address").fill("sam@example.org")
    page.get_by_label("Topic (optional)").select_option(label="Digital infrastructure")
    page.get_by_label("Your message or idea").fill("Fibre for every village, please.")
    live_server.shot(page, "i18n-07-contact-en")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("alert")).to_have_text("Please check the highlighted fields.")
    expect(page.get_by_text("Please confirm that we may use your details")).to_be_visible()
    page.locator("input[name=consent]").check()
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your message!")
    live_server.shot(page, "i18n-08-contact-thanks-en")
