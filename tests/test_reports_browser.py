"""In headless chromium: an editor opens a sent campaign's report (with its links ranked
by clicks) and an admin the deliverability page; axe-core finds nothing on either, in
German and in English.
Screenshots land in test-artifacts/screenshots/report-*.png."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from owlmail.auth.models import Role
from owlmail.auth.services import create_editor
from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from owlmail.subscriptions.models import Subscriber
from owlmail.tracking.counter import flush
from tests.support.axe import assert_accessible
from tests.support.campaigns import add_campaign, add_subscribers

pytestmark = pytest.mark.browser


BODY = ("Guten Tag {{ name }},\n\n- [Ergebnisse](https://owl-morgen.de/ergebnisse)\n"
        "- [Programm 2027](https://owl-morgen.de/programm)\n"
        "- [Mitmachen](https://owl-morgen.de/mitmachen)\n")


def click_some_links(app, smtp) -> None:
    """Readers click: the programme most, the results once; one opens; a scanner checks."""
    client = app.test_client()
    for index, received in enumerate(smtp.received):
        html = received.message.get_body(("html",)).get_content()
        links = re.findall(r'href="https?://[^/"]+(/r/[^"]+)"', html)
        for link in (links[1], links[1], links[0])[: 1 + index % 3]:
            client.get(link, headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"})
        client.get(links[2], headers={"User-Agent": "Barracuda link check"})
        for pixel in re.findall(r'<img[^>]+src="https?://[^/"]+(/o/[^"]+)"', html):
            client.get(pixel, headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"})
    flush(app)


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
        ids = add_subscribers(6)
        db.session.execute(update(Subscriber).where(Subscriber.id.in_(ids[:2]))
                           .values(tracking=True))
        db.session.commit()
        campaign_id = add_campaign(subject="Digitalgipfel OWL: Ergebnisse", body=BODY)
        run_due_campaigns()
    click_some_links(app, smtp)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/campaigns/{campaign_id}")
    page.get_by_role("link", name="Bericht ansehen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bericht")
    expect(page.locator(".stat-number").first).to_have_text("5")
    expect(page.locator('[data-stat="clicks"]')).to_have_text("9")
    expect(page.locator(".link-ranking tbody tr").first).to_contain_text("programm")
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
