"""Behind a TLS proxy: visitors told apart by their own address, secure cookies over
https, and security headers on every answer."""

import pytest
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber
from tests.conftest import FormClient, log_in

PROXY = "10.0.0.1"  # the address every request arrives from when nginx stands in front
FORM = {"name": "", "topics": ["bildung"], "consent": "y"}


def visitor(app, forwarded_for: str | None = None, proto: str = "http"):
    """A test client whose requests come through the proxy, which added these headers."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    if forwarded_for is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
        client.environ_base["HTTP_X_FORWARDED_PROTO"] = proto
    return client


def sign_up(client, email: str) -> int:
    return FormClient(client).submit("/", {**FORM, "email": email},
                                     action="/subscribe").status_code


def consent_ip(app, email: str) -> str | None:
    with app.app_context():
        return db.session.scalar(select(ConsentEvent.ip).join(Subscriber).where(
            Subscriber.email == email))


@pytest.fixture
def behind_proxy(make_app):
    return make_app(TRUSTED_PROXY_COUNT=1, RATELIMIT_ENABLED=True)


def test_eleven_people_behind_the_proxy_can_all_sign_up_in_one_minute(behind_proxy):
    answers = [sign_up(visitor(behind_proxy, f"198.51.100.{n}"), f"p{n}@example.org")
               for n in range(1, 12)]
    assert answers == [200] * 11


def test_one_person_behind_the_proxy_is_still_limited(behind_proxy):
    client = visitor(behind_proxy, "198.51.100.7")
    answers = [sign_up(client, f"p{n}@example.org") for n in range(11)]
    assert answers == [200] * 10 + [429]


def test_a_forged_forwarded_for_entry_neither_escapes_the_limit_nor_enters_the_log(
        behind_proxy):
    answers = [sign_up(visitor(behind_proxy, f"203.0.113.{n}, 198.51.100.7"),
                       f"p{n}@example.org") for n in range(11)]
    assert answers == [200] * 10 + [429]
    assert consent_ip(behind_proxy, "p3@example.org") == "198.51.100.7"


def test_the_consent_log_keeps_the_visitors_address_not_the_proxys(behind_proxy):
    assert sign_up(visitor(behind_proxy, "198.51.100.23"), "anna@example.org") == 200
    assert consent_ip(behind_proxy, "anna@example.org") == "198.51.100.23"


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    answers = [sign_up(visitor(app, f"198.51.100.{n}", "https"), f"p{n}@example.org")
               for n in range(1, 12)]
    assert answers == [200] * 10 + [429]
    assert consent_ip(app, "p1@example.org") == PROXY
    assert "Strict-Transport-Security" not in visitor(app, "1.2.3.4", "https").get("/").headers


# --- cookies -----------------------------------------------------------------

def test_over_https_the_session_and_language_cookies_are_secure(make_app):
    app = make_app(BASE_URL="https://newsletter.owl-morgen.de", TRUSTED_PROXY_COUNT=1)
    client = visitor(app, "198.51.100.7", "https")
    response = client.get("/?lang=en")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert set(cookies) == {"__Host-session", "lang"}
    for cookie in cookies.values():
        assert "; Secure" in cookie
    assert "; Path=/" in cookies["__Host-session"]
    assert "Domain=" not in cookies["__Host-session"]


def test_over_plain_http_in_development_cookies_are_not_secure(client):
    cookies = client.get("/?lang=en").headers.getlist("Set-Cookie")
    assert cookies and not any("Secure" in c for c in cookies)
    assert any(c.startswith("session=") for c in cookies)


# --- headers -----------------------------------------------------------------

def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.fixture
def staff(app, make_editor):
    client = app.test_client()
    log_in(client, make_editor("admin@owl-morgen.de", role="admin"))
    return client


@pytest.mark.parametrize("url", [
    "/", "/contact", "/archive", "/nowhere", "/static/owlmail.css", "/admin/",
    "/api/v1/topics", "/api/v1/nowhere", "/confirm/not-a-token", "/healthz",
    "/archive/a%00b",
])
def test_every_answer_carries_the_security_headers(client, url):
    response = client.get(url)
    policy = csp(response)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_a_post_answered_with_a_redirect_and_an_api_error_carry_them_too(app, client):
    app.config["WTF_CSRF_ENABLED"] = False
    assert "frame-ancestors" in client.get("/admin/").headers["Content-Security-Policy"]
    refused = client.post("/api/v1/campaigns", json={})
    assert refused.status_code == 401
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", ["/confirm/abc", "/unsubscribe/abc", "/preferences/abc"])
def test_pages_whose_address_carries_a_token_send_no_referrer(client, url):
    assert client.get(url).headers["Referrer-Policy"] == "no-referrer"


def test_other_pages_send_the_referrer_only_to_this_site(client):
    assert client.get("/").headers["Referrer-Policy"] == "same-origin"


def test_hsts_only_when_the_visitor_came_over_https(make_app):
    app = make_app(BASE_URL="https://newsletter.owl-morgen.de", TRUSTED_PROXY_COUNT=1)
    over_https = visitor(app, "198.51.100.7", "https").get("/")
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in visitor(app, "198.51.100.7", "http").get("/").headers


def test_only_pages_framing_campaign_html_allow_its_inline_styles(staff):
    editor = staff.get("/admin/campaigns/new")
    assert csp(editor)["style-src"] == "'self' 'unsafe-inline'"
    assert csp(editor)["script-src"] == "'self'"
    assert csp(staff.get("/admin/campaigns"))["style-src"] == "'self'"
