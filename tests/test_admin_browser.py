"""In headless chromium: an admin logs in through the form, looks at the dashboard, the
subscriber list and one person's consent log, and erases that person. Screenshots of
each page land in test-artifacts/screenshots/admin-*.png."""

import pytest
from playwright.sync_api import expect

from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.extensions import db
from owlmail.models import SubscriberStatus
from tests.test_admin import add_subscriber

pytestmark = pytest.mark.browser


def fill_list(app) -> None:
    """A few people in every status, with umlauts and an IDN domain."""
    with app.app_context():
        create_editor("chefin@owl-morgen.de", "ein-sehr-gutes-passwort", Role.ADMIN)
        db.session.commit()
        statuses = list(SubscriberStatus)
        for n, name in enumerate(["Jürgen Müller", "Anna Schäfer", "Özlem Yılmaz",
                                  "Bücherstube", "Peter Groß", "Lena Weiß"]):
            add_subscriber(f"person{n}@bücher.de" if n == 3 else f"person{n}@beispiel.de",
                           statuses[n % 4], ("bildung", "it") if n % 2 else ("innovation",),
                           name=name)


def test_an_admin_logs_in_and_reads_a_consent_log(live_server, page):
    fill_list(live_server.app)
    page.goto(live_server.url + "/admin/subscribers")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anmelden")
    page.get_by_label("E-Mail-Adresse").fill("chefin@owl-morgen.de")
    page.get_by_label("Passwort").fill("falsches-passwort")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_contain_text("E-Mail-Adresse oder Passwort ist falsch")
    live_server.shot(page, "admin-01-login-failed")
    page.get_by_label("Passwort").fill("ein-sehr-gutes-passwort")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Abonnenten")  # back to `next`
    live_server.shot(page, "admin-03-subscribers")

    page.get_by_label("Status").select_option("confirmed")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator("table.subscriber-list tbody tr")).to_have_count(2)

    page.get_by_role("link", name="Übersicht").click()
    expect(page.locator(".chart svg")).to_be_visible()
    expect(page.locator(".stat-confirmed .stat-number")).to_have_text("2")
    live_server.shot(page, "admin-02-dashboard")

    page.get_by_role("link", name="Abonnenten").click()
    page.get_by_role("link", name="person3@bücher.de").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("person3@bücher.de")
    expect(page.locator("table.consent-log")).to_contain_text("192.0.2.7")
    live_server.shot(page, "admin-04-detail")

    page.get_by_role("link", name="Daten löschen (DSGVO)").click()
    live_server.shot(page, "admin-05-erase")
    page.get_by_label("Ja, alle Daten dieser Person endgültig löschen.").check()
    page.get_by_role("button", name="Endgültig löschen").click()
    expect(page.get_by_role("status")).to_contain_text("Die Person wurde gelöscht")
    expect(page.locator("table.subscriber-list")).not_to_contain_text("bücher.de")


def test_the_subscriber_list_works_on_a_phone(live_server, _browser):
    fill_list(live_server.app)
    context = _browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/admin/login")
    page.get_by_label("E-Mail-Adresse").fill("chefin@owl-morgen.de")
    page.get_by_label("Passwort").fill("ein-sehr-gutes-passwort")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator(".stat-grid")).to_be_visible()
    live_server.shot(page, "admin-06-dashboard-phone")
    page.goto(live_server.url + "/admin/subscribers")
    expect(page.get_by_role("button", name="Filtern")).to_be_visible()
    live_server.shot(page, "admin-07-subscribers-phone")
    context.close()


def test_an_admin_imports_a_file_and_manages_topics(live_server, page, tmp_path):
    fill_list(live_server.app)
    page.goto(live_server.url + "/admin/login?next=/admin/import")
    page.get_by_label("E-Mail-Adresse").fill("chefin@owl-morgen.de")
    page.get_by_label("Passwort").fill("ein-sehr-gutes-passwort")
    page.get_by_role("button", name="Anmelden").click()
    csv_file = tmp_path / "liste.csv"
    csv_file.write_text("email,name,topics,status,confirmed_at,consent_source\n"
                        "neu@bücher.de,Neue Leserin,bildung,,,\n"
                        "person0@beispiel.de,Schon da,,,,\n"
                        "kaputt,Kaputt,,,,\n", encoding="utf-8")
    page.get_by_label("CSV-Datei (UTF-8)").set_input_files(str(csv_file))
    page.get_by_role("button", name="Importieren").click()
    report = page.locator("section[aria-labelledby=report-title]")
    expect(report).to_contain_text("Schon vorhanden")
    expect(report).to_contain_text("gültige E-Mail-Adresse")
    live_server.shot(page, "admin-08-import-report")

    page.get_by_role("link", name="Themen").click()
    page.get_by_label("Kürzel (für Links und API, z. B. „ki“)").fill("ki")
    page.get_by_label("Name", exact=True).fill("Künstliche Intelligenz")
    page.get_by_role("button", name="Thema anlegen").click()
    expect(page.get_by_role("status")).to_contain_text("Künstliche Intelligenz")
    page.get_by_role("button", name="Ausblenden Bauen").click()
    expect(page.get_by_role("status")).to_contain_text("ausgeblendet")
    live_server.shot(page, "admin-09-topics")

    page.get_by_role("link", name="Konto").click()
    page.get_by_role("link", name="Redaktionskonten verwalten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Redaktionskonten")
    live_server.shot(page, "admin-10-editors")
