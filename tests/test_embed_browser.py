"""In headless chromium: the sign-up form pasted into a page of another site (a second
loopback origin) is filled and sent there, a real cross-origin POST; the confirmation
mail arrives. The same snippet on a third origin is refused. axe-core checks the form on
the host page and the editors' embed page."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail, OutboxStatus
from owlmail.subscriptions.fields.services import values_of
from owlmail.subscriptions.models import ConsentEvent, Subscriber
from tests.conftest import log_in
from tests.support.pages import wait_for

pytestmark = pytest.mark.browser
# axe-core would fetch the host page's stylesheets itself (its CSSOM preload), which the
# host's policy from the README rightly refuses (no connect-src): the check needs no fetch.
NO_PRELOAD = {"resultTypes": ["violations"], "preload": False}

HOST_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>OWL morgen – Digitalgipfel</title>
<style>body {{ font-family: Georgia, serif; margin: 2rem }} h1 {{ color: #7a0 }}</style>
</head><body><main><h1>Digitalgipfel OWL</h1><p>Ein Artikel im CMS.</p>
{snippet}
</main></body></html>"""


class HostSite:
    """A static page on its own loopback origin, as an editor's CMS would serve it, with
    the CSP the README asks for (form-action and style-src naming the newsletter site)."""

    def __init__(self, newsletter: str) -> None:
        self.body = b""
        csp = (f"default-src 'self'; style-src 'self' 'unsafe-inline' {newsletter}; "
               f"form-action {newsletter}")
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", csp)
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, snippet: str, lang: str) -> None:
        self.body = HOST_PAGE.format(lang=lang, snippet=snippet).encode()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def sites(live_server):
    """The snippet as an editor copies it (page address given), pasted on a page of an
    allowed or a foreign site."""
    started = []

    def host(path: str, lang: str = "de", allowed: bool = True) -> HostSite:
        site = HostSite(live_server.url)
        started.append(site)
        site.page_url = site.origin + path
        query = urlencode({"lang": lang, "source": site.page_url})
        with urlopen(f"{live_server.url}/embed/form?{query}", timeout=10) as answer:
            site.publish(answer.read().decode(), lang)
        if allowed:
            live_server.app.config["EMBED_ORIGINS"].append(site.origin)
        return site

    live_server.app.config["EMBED_ORIGINS"] = []
    yield host
    for site in started:
        site.stop()


def serious(results) -> list[str]:
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")]


def test_a_reader_signs_up_on_an_owl_morgen_page_and_gets_the_mail(live_server, sites, page):
    site = sites("/digitalgipfel")
    page.goto(site.page_url)
    assert serious(Axe().run(page, context=".owlmail-embed", options=NO_PRELOAD)) == []
    page.get_by_label("E-Mail-Adresse").fill("leonie@example.org")
    page.get_by_label("Organisation").select_option("hochschule")
    page.get_by_label("Kreis", exact=True).select_option("paderborn")
    page.get_by_label("IT", exact=True).check()
    page.locator("#owlmail-consent").check()
    live_server.shot(page, "embed-01-host-page-de")
    page.get_by_role("button", name="Newsletter abonnieren").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("prüfen Sie Ihr Postfach")
    assert page.url.startswith(live_server.url + "/embed/next")
    live_server.shot(page, "embed-02-next-step-de")
    app = live_server.app

    def confirmation_sent():
        with app.app_context():
            # a sent mail keeps no address (retention): the one confirmation is this one
            status = db.session.scalar(select(OutboxMail.status).where(
                OutboxMail.kind == "confirm"))
            db.session.remove()
            return status == OutboxStatus.SENT

    wait_for(confirmation_sent)
    with app.app_context():
        person = db.session.scalar(select(Subscriber))
        assert values_of(person.id) == {"organisation": "hochschule", "kreis": "paderborn"}
        source = db.session.scalar(select(ConsentEvent.source_url).where(
            ConsentEvent.action == "requested"))
        db.session.remove()
    assert source == site.page_url

    page.get_by_role("link", name="Zurück zur Seite, von der Sie kamen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Digitalgipfel OWL")


def test_the_english_snippet_signs_up_in_english(live_server, sites, page):
    site = sites("/en/digital-summit", lang="en")
    page.goto(site.page_url)
    assert serious(Axe().run(page, context=".owlmail-embed", options=NO_PRELOAD)) == []
    page.get_by_label("Email address").fill("sam@example.org")
    page.locator("#owlmail-consent").check()
    live_server.shot(page, "embed-03-host-page-en")
    page.get_by_role("button", name="Subscribe to the newsletter").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("check your inbox")
    live_server.shot(page, "embed-04-next-step-en")


def test_the_same_snippet_on_a_site_not_allowed_is_refused(live_server, sites, page):
    site = sites("/fremd", allowed=False)
    page.goto(site.page_url)
    page.get_by_label("E-Mail-Adresse").fill("fremd@example.org")
    page.locator("#owlmail-consent").check()
    with page.expect_response(lambda r: r.url.startswith(live_server.url)) as answer:
        page.get_by_role("button", name="Newsletter abonnieren").click()
    assert answer.value.status == 403
    expect(page.locator("body")).to_contain_text("freigegebenen Seiten")
    with live_server.app.app_context():
        assert db.session.scalar(select(Subscriber.id)) is None
        db.session.remove()


def test_the_editors_embed_page_previews_and_copies(live_server, make_editor, _browser):
    context = _browser.new_context(locale="de-DE", viewport={"width": 1300, "height": 1000},
                                   bypass_csp=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"],
                              origin=live_server.url)
    page = context.new_page()
    client = live_server.app.test_client()
    log_in(client, make_editor())
    cookie = client.get_cookie("session")
    context.add_cookies([{"name": "session", "value": cookie.value,
                          "url": live_server.url}])
    page.goto(live_server.url + "/admin/embed")
    expect(page.locator("#embed-preview .owlmail-embed")).to_be_visible()
    page.get_by_label("Organisation").first.uncheck()
    expect(page.locator("#embed-preview select[name=organisation]")).to_have_count(0)
    assert 'name="organisation"' not in page.locator("#embed-code").input_value()
    page.get_by_role("button", name="Code kopieren").click()
    expect(page.locator("#embed-copied")).to_contain_text("kopiert")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#embed-code").input_value()
    assert serious(Axe().run(page, options=NO_PRELOAD)) == []
    live_server.shot(page, "embed-05-admin-de")
    page.goto(live_server.url + "/admin/embed?lang=en")
    live_server.shot(page, "embed-06-admin-en")
    context.close()
