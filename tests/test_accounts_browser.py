"""In headless chromium: an editor turns on two-factor login with a code computed from
the secret the page shows, logs in with a code and with a recovery code, resets a
forgotten password through the real outbox and SMTP server, and revokes a token; an
admin reads the audit log. Every new page is axe-core clean, in German and English;
screenshots land in test-artifacts/screenshots/accounts-*.png."""

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from owlmail.audit import AuditAction, record
from owlmail.auth.models import Editor, Role
from owlmail.auth.services import create_editor, reset_token
from owlmail.extensions import db
from owlmail.scheduler import EXTENSION_KEY, start_scheduler
from tests.support.axe import assert_accessible
from tests.support.browser import LiveServer, start_live_server
from tests.support.pages import links_in, wait_for

pytestmark = pytest.mark.browser

EMAIL = "redaktion@owl-morgen.de"
PASSWORD = "richtig-langes-passwort"


def add_editor(app, email=EMAIL, role=Role.EDITOR):
    with app.app_context():
        editor = create_editor(email, PASSWORD, role)
        db.session.commit()
        return editor.id


def log_in(page, url, email=EMAIL, password=PASSWORD):
    page.goto(url + "/admin/login")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()


def log_out(page):
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anmelden")


def test_two_factor_from_enrolment_to_login_with_code_and_recovery_code(live_server, page):
    add_editor(live_server.app)
    log_in(page, live_server.url)
    page.get_by_role("link", name="Konto").click()
    page.get_by_role("link", name="Zwei-Faktor-Anmeldung einrichten").click()
    expect(page.locator(".qr-code svg")).to_be_visible()
    assert_accessible(page)
    live_server.shot(page, "accounts-01-two-factor-setup")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Einschalten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Die Zwei-Faktor-Anmeldung ist eingeschaltet")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page)
    live_server.shot(page, "accounts-02-recovery-codes")
    page.get_by_role("link", name="Weiter zum Konto").click()
    log_out(page)

    log_in(page, live_server.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Zwei-Faktor-Anmeldung")
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator(".error")).to_contain_text("Der Code stimmt nicht")
    assert_accessible(page)
    live_server.shot(page, "accounts-03-login-code-wrong")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht")
    log_out(page)

    log_in(page, live_server.url)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht")
    page.get_by_role("link", name="Konto").click()
    expect(page.get_by_text("Unbenutzte Wiederherstellungscodes: 9")).to_be_visible()


@pytest.fixture
def mail_server(make_app, smtp):
    """The app served with its outbox sending to the loopback SMTP server."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, OUTBOX_POLL_SECONDS=0.2)
    server, thread = start_live_server(app)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    start_scheduler(app)
    yield LiveServer(app, app.config["BASE_URL"])
    app.extensions.pop(EXTENSION_KEY).shutdown(wait=True)
    server.shutdown()
    thread.join(5)


def test_a_forgotten_password_is_reset_by_mail(mail_server, smtp, page):
    add_editor(mail_server.app)
    page.goto(mail_server.url + "/admin/login")
    page.get_by_role("link", name="Passwort vergessen?").click()
    assert_accessible(page)
    mail_server.shot(page, "accounts-04-reset-request")
    page.get_by_label("E-Mail-Adresse").fill(EMAIL)
    page.get_by_role("button", name="Link anfordern").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bitte prüfen Sie Ihr Postfach")
    assert_accessible(page)
    mail_server.shot(page, "accounts-05-reset-sent")
    [mail] = wait_for(lambda: smtp.messages_to(EMAIL))
    [link] = links_in(mail, "/admin/reset/")
    page.goto(link)
    assert_accessible(page)
    mail_server.shot(page, "accounts-06-reset-new-password")
    page.get_by_label("Neues Passwort", exact=True).fill("ein-neues-langes-passwort")
    page.get_by_label("Neues Passwort wiederholen").fill("ein-neues-langes-passwort")
    page.get_by_role("button", name="Passwort speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Ihr neues Passwort gilt")
    log_in(page, mail_server.url, password="ein-neues-langes-passwort")
    expect(page.get_by_role("heading", level=1)).to_have_text("Übersicht")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dieser Link wurde bereits verwendet")
    assert_accessible(page)


def test_an_editor_creates_and_revokes_a_token_and_the_admin_sees_it_in_the_log(live_server,
                                                                                 page):
    add_editor(live_server.app, "chefin@owl-morgen.de", Role.ADMIN)
    log_in(page, live_server.url, "chefin@owl-morgen.de")
    page.get_by_role("link", name="Konto").click()
    page.get_by_label("Wofür ist das Token?").fill("Redaktionsskript")
    page.get_by_role("button", name="Token anlegen").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("owl_")
    assert_accessible(page)
    live_server.shot(page, "accounts-07-account-token")
    page.get_by_role("button", name="Widerrufen Redaktionsskript").click()
    expect(page.locator("table.token-list")).to_contain_text("widerrufen")
    answer = page.request.get(live_server.url + "/api/v1/topics",
                              headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401

    page.get_by_role("link", name="Protokoll").click()
    table = page.locator("table.audit-list")
    expect(table).to_contain_text("API-Token widerrufen")
    expect(table).to_contain_text("API-Token angelegt")
    expect(table).to_contain_text("Anmeldung")
    page.get_by_label("Aktion").select_option("token.revoked")
    page.get_by_role("button", name="Filtern").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    assert_accessible(page)
    live_server.shot(page, "accounts-08-audit")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_new_pages_are_accessible_in_both_languages(live_server, page, lang):
    app = live_server.app
    editor_id = add_editor(app, "chefin@owl-morgen.de", Role.ADMIN)
    with app.app_context():
        record("chefin@owl-morgen.de", AuditAction.CAMPAIGN_CREATED, "campaign #1")
        db.session.commit()
    with app.test_request_context():
        token = reset_token(db.session.get(Editor, editor_id))
    page.goto(f"{live_server.url}/admin/login?lang={lang}")
    for path, name in (("/admin/reset", "reset-request"), (f"/admin/reset/{token}", "reset"),
                       ("/admin/reset/kaputt", "reset-broken")):
        page.goto(live_server.url + path)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_accessible(page)
        live_server.shot(page, f"accounts-{lang}-{name}")
    page.goto(live_server.url + "/admin/login")
    page.locator("#email").fill("chefin@owl-morgen.de")
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    for path, name in (("/admin/account", "account"), ("/admin/account/two-factor", "setup"),
                       ("/admin/audit/", "audit"), ("/admin/editors", "editors")):
        page.goto(live_server.url + path)
        assert_accessible(page)
        live_server.shot(page, f"accounts-{lang}-{name}")
    page.goto(live_server.url + "/admin/account/two-factor")
    secret = page.locator("#totp-secret").inner_text()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.locator("form.inline-form button").click()  # log out
    page.locator("#email").fill("chefin@owl-morgen.de")
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").last.click()
    expect(page.locator("#code")).to_be_visible()
    assert_accessible(page)
    live_server.shot(page, f"accounts-{lang}-login-code")
    if lang == "en":
        expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor login")
        assert re.search("six-digit code", page.content())
