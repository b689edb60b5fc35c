"""A live owlmail server in a thread and headless Debian chromium driven by Playwright.

Use the fixtures `live_server` (an app serving on 127.0.0.1 with its scheduler running,
as under `make run`) and `page` (a fresh Playwright page). Tests using them carry the
`browser` marker; they are skipped only when chromium is missing, which CI forbids.
"""

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from owlmail.scheduler import EXTENSION_KEY, start_scheduler

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class LiveServer:
    app: Flask
    url: str

    def shot(self, page, name: str) -> Path:
        """Save a full-page screenshot under test-artifacts/screenshots/ for a person to see."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def click_settled(locator) -> None:
    """Scroll to the element, let chromium draw a frame, then click.

    Chromium routes a click that follows a scroll within the same frame by where things
    were before the scroll. On the campaign page the sticky preview iframe still covered
    the buttons below it, so a click on "Versand planen" went into the iframe and nothing
    was submitted (about one run in twenty). A person never clicks that fast.
    """
    locator.scroll_into_view_if_needed()
    locator.page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    locator.click()


def start_live_server(app: Flask):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def live_server(make_app):
    """The app served on a free loopback port, scheduler and sender running inside, mail
    going to the dev outbox: as `make run` serves it."""
    app = make_app(DEV_OUTBOX=True, OUTBOX_POLL_SECONDS=0.2, CAMPAIGN_POLL_SECONDS=0.5)
    server, thread = start_live_server(app)
    port = server.server_port
    app.config["BASE_URL"] = f"http://127.0.0.1:{port}"
    start_scheduler(app)
    yield LiveServer(app, f"http://127.0.0.1:{port}")
    app.extensions.pop(EXTENSION_KEY).shutdown(wait=True)
    server.shutdown()
    thread.join(5)


# Chromium reports every Content-Security-Policy refusal on the console, from the page and
# from its frames alike (a sandboxed frame runs no script that could listen for
# securitypolicyviolation, so the console is the one place that sees them all).
CSP_REFUSAL = ("Content Security Policy", "Refused to")


def watch_csp(target, refusals: list[str] | None = None) -> list[str]:
    """Collect CSP refusals of a page or of every page in a context: console messages
    and securitypolicyviolation events."""
    refusals = [] if refusals is None else refusals
    target.on("console", lambda message: refusals.append(message.text)
              if any(mark in message.text for mark in CSP_REFUSAL) else None)
    target.expose_function("__owlmailCspViolation", lambda text: refusals.append(text))
    target.add_init_script("""document.addEventListener("securitypolicyviolation", function (e) {
        window.__owlmailCspViolation(e.violatedDirective + " blocked " + e.blockedURI);
    });""")
    return refusals


class WatchedBrowser:
    """The Playwright browser; every context it opens is watched for CSP refusals, so a
    browser test fails when a page it showed broke the policy (see `_csp_refusals`)."""

    def __init__(self, browser):
        self.browser = browser
        self.refusals: list[str] = []

    def new_context(self, **options):
        context = self.browser.new_context(**options)
        watch_csp(context, self.refusals)
        return context

    def __getattr__(self, name):
        return getattr(self.browser, name)


@pytest.fixture(scope="session")
def _browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield WatchedBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def _csp_refusals(request):
    """After each browser test: no page it showed had anything refused by the CSP."""
    if "_browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("_browser")
    browser.refusals.clear()
    yield
    refusals, browser.refusals[:] = list(browser.refusals), []
    assert not refusals, f"Content-Security-Policy refused: {refusals}"


@pytest.fixture
def page(_browser):
    context = _browser.new_context(locale="de-DE", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
