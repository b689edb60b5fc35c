"""In headless chromium: an editor opens a sent campaign's report and an admin the
deliverability page; axe-core finds nothing on either, in German and in English.
Screenshots land in test-artifacts/screenshots/report-*.png."""

import pytest
from playwright.sync_api import expect

from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from tests.support.axe import assert_accessible
from tests.support.campaigns import add_campaign, add_subscribers

pytestmark = pytest.mark.browser


def log_in(page, url: str) -> None:
    page.goto(url + "/admin/login")
    page.get_by_label("E-Mail-Adresse").fill("chefin@owl-morgen.de")
    page.get_by_label("Passwort").fill("ein-sehr-gutes-passwort")
    page.get_by_role("button", name="Anmelden").click()


def test_the_report_and_the_deliverability_page_read_well(live_server, page, smtp):
    app = live_server.app
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, DEV_OUTBOX=False)
    smtp.handler.refuse["leser3@example.org"] = "550 5.1.1 no such user"
    with app.app_context():
        create_editor("chefin@owl-morgen.de", "ein-sehr-gutes-passwort", Role.ADMIN)
        db.session.commit()
        add_subscribers(6)
        campaign_id = add_campaign(subject="Digitalgipfel OWL: Ergebnisse")
        run_due_campaigns()
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/campaigns/{campaign_id}")
    page.get_by_role("link", name="Bericht ansehen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bericht")
    expect(page.locator(".stat-number").first).to_have_text("5")
    assert_accessible(page)
    live_server.shot(page, "report-01-campaign")
    page.goto(f"{live_server.url}/admin/campaigns/{campaign_id}/report?lang=en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Report")
    assert_accessible(page)
    live_server.shot(page, "report-02-campaign-en")

    page.get_by_role("link", name="Deliverability").click()
    expect(page.locator("table.dns-records")).to_contain_text("_dmarc.owl-morgen.de")
    assert_accessible(page)
    live_server.shot(page, "report-03-deliverability-en")
    page.goto(f"{live_server.url}/admin/deliverability?lang=de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Zustellbarkeit")
    assert_accessible(page)
    live_server.shot(page, "report-04-deliverability")
