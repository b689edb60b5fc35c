"""The README's production recipe, run for real: nginx terminating TLS (deploy/'s server
block, a certificate from a test CA) → gunicorn as its systemd unit starts it → PostgreSQL,
limits in Redis, the worker, and a relay that demands STARTTLS and AUTH.

Visitors come from their own loopback addresses (127.0.0.2, 127.0.0.3, …), so per-visitor
limits and consent evidence are seen as they will be in production.
"""

import http.client
import json
import os
import re
import socket
import ssl
import urllib.parse

import pytest
import trustme

from tests.support.pages import links_in, wait_for
from tests.support.stack import Relay, Stack, Visitor
from tests.support.tools import TOOLS, need

pytestmark = [pytest.mark.slow, pytest.mark.production, pytest.mark.timeout(240)]

DATABASE_URI = os.environ.get("OWLMAIL_STACK_DATABASE_URI",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URI = os.environ.get("OWLMAIL_STACK_REDIS_URI", "redis://127.0.0.1:6379/15")
ADMIN, PASSWORD = "admin@owl-morgen.de", "ein-langes-testpasswort"
# Test knobs only: forms may be sent back at once, the worker looks for work more often.
KNOBS = {"OWLMAIL_FORM_MIN_SECONDS": "0", "OWLMAIL_OUTBOX_POLL_SECONDS": "0.2",
         "OWLMAIL_CAMPAIGN_POLL_SECONDS": "0.5"}


def _services_answer() -> list[str]:
    """What of PostgreSQL and Redis does not answer (the recipe needs both)."""
    import psycopg
    import redis

    missing = []
    try:
        psycopg.connect(DATABASE_URI.replace("+psycopg", ""), connect_timeout=3).close()
    except psycopg.Error:
        missing.append(f"PostgreSQL at {DATABASE_URI}")
    try:
        redis.Redis.from_url(REDIS_URI, socket_connect_timeout=3).ping()
    except redis.RedisError:
        missing.append(f"Redis at {REDIS_URI}")
    return missing


@pytest.fixture(scope="module")
def site():
    """The whole stack, once for this module, with an admin and an API token."""
    need("nginx")
    missing = _services_answer()
    if missing:
        reason = f"the production test needs {', '.join(missing)}"
        if TOOLS["nginx"].required():
            pytest.fail(reason)
        pytest.skip(reason)
    ca = trustme.CA()
    relay = Relay(ca).start()
    try:
        with Stack(DATABASE_URI, REDIS_URI, mail=relay.settings(), settings=KNOBS,
                   ca=ca) as stack:
            stack.flask("editor", "create", ADMIN, "--role", "admin", stdin=PASSWORD + "\n")
            token = stack.flask("editor", "token", ADMIN).strip().splitlines()[-1]
            yield Site(stack, relay, token)
    finally:
        relay.stop()


class Site:
    def __init__(self, stack: Stack, relay: Relay, token: str) -> None:
        self.stack, self.relay, self.token = stack, relay, token

    def visitor(self, last_octet: int) -> Visitor:
        return self.stack.visitor(f"127.0.0.{last_octet}")

    def api(self, method: str, path: str, payload: dict | None = None):
        """An API call through nginx as an editor's script makes it; (answer, JSON)."""
        body = json.dumps(payload).encode() if payload is not None else None
        answer = self.visitor(250).request(method, path, body, {
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        return answer, (json.loads(answer.body) if answer.body else None)

    def consent_ips(self, email: str) -> list[str | None]:
        """The addresses the consent history of this subscriber names."""
        _, found = self.api("GET", "/api/v1/subscribers?" + urllib.parse.urlencode({"q": email}))
        (item,) = [i for i in found["items"] if i["email"] == email]
        _, detail = self.api("GET", f"/api/v1/subscribers/{item['id']}")
        return [event["ip"] for event in detail["consent_history"]]


def sign_up(visitor: Visitor, email: str, headers: dict | None = None):
    return visitor.submit("/", {"email": email, "topics": ["bildung"], "consent": "y"},
                          action="/subscribe", headers=headers)


def test_mail_reaches_the_relay_over_starttls_with_auth(site):
    email = "leserin@example.org"
    reader = site.visitor(30)
    assert sign_up(reader, email).status == 200

    (confirmation,) = wait_for(lambda: site.relay.mails_to(email), 30,
                               what=f"the confirmation mail\n{site.stack.log('worker')}")
    assert (confirmation.tls, confirmation.login) == (True, site.relay.username)
    link = urllib.parse.urlsplit(links_in(confirmation.message, "/confirm/")[0])
    assert reader.submit(link.path, {}).status == 200

    answer, created = site.api("POST", "/api/v1/campaigns", {
        "subject": "Digitalgipfel OWL", "body": "Hallo {{ name }}!", "topics": []})
    assert answer.status == 201, created
    answer, _ = site.api("POST", f"/api/v1/campaigns/{created['id']}/schedule",
                         {"send_at": None})
    assert answer.status < 300

    campaign = wait_for(lambda: [m for m in site.relay.mails_to(email)
                                 if m.message["Subject"] == "Digitalgipfel OWL"], 30,
                        what=f"the campaign mail\n{site.stack.log('worker')}")
    assert [(m.tls, m.login) for m in campaign] == [(True, site.relay.username)]


def test_eleven_people_from_eleven_addresses_may_all_sign_up_within_a_minute(site):
    people = {f"127.0.0.{n}": f"person-{n}@example.org" for n in range(2, 13)}

    statuses = {ip: sign_up(site.stack.visitor(ip), email).status for ip, email in people.items()}

    assert statuses == dict.fromkeys(people, 200)
    for ip, email in people.items():
        assert site.consent_ips(email) == [ip], f"consent of {email} names the wrong address"


def test_one_address_is_limited_after_ten_a_minute_whatever_it_claims_to_be(site):
    visitor = site.visitor(13)
    statuses = [sign_up(visitor, f"many-{n}@example.org",
                        {"X-Forwarded-For": f"198.51.100.{n}"}).status for n in range(11)]

    assert statuses == [200] * 10 + [429]
    assert sign_up(site.visitor(14), "someone-else@example.org").status == 200


def test_a_forged_x_forwarded_for_is_not_believed(site):
    visitor = site.visitor(20)
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example",
               "X-Forwarded-Proto": "http"}

    assert sign_up(visitor, "forged@example.org", headers).status == 200

    assert site.consent_ips("forged@example.org") == ["127.0.0.20"]


def test_the_session_cookie_is_secure_http_only_and_bound_to_this_host(site):
    answer = site.visitor(21).get("/")

    cookies = answer.cookies()
    assert "__Host-session" in cookies, f"no __Host-session cookie: {list(cookies)}"
    for morsel in cookies.values():
        assert morsel["secure"] and morsel["httponly"], morsel.OutputString()
        assert morsel["path"] == "/" and not morsel["domain"], morsel.OutputString()


@pytest.mark.parametrize("path, status, auth", [
    ("/", 200, False),
    ("/api/v1/topics", 200, True),
    ("/api/v1/topics", 401, False),
    ("/gibt-es-nicht", 404, False),
])
def test_pages_api_answers_and_errors_carry_the_security_headers(site, path, status, auth):
    headers = {"Authorization": f"Bearer {site.token}"} if auth else {}

    answer = site.visitor(22).get(path, **headers)

    assert answer.status == status
    csp = answer.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors" in csp, f"CSP: {csp!r}"
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Referrer-Policy")
    assert re.search(r"max-age=[1-9]", answer.headers.get("Strict-Transport-Security", ""))


def test_logging_out_ends_the_session_even_for_a_copied_cookie(site):
    editor = site.visitor(23)
    login = editor.submit("/admin/login", {"email": ADMIN, "password": PASSWORD})
    assert login.status == 303, login.text[:500]
    assert editor.get("/admin/").status == 200
    copied = dict(editor.cookies)

    out = editor.submit("/admin/", {}, action="/admin/logout")
    assert out.status == 303

    thief = site.visitor(24)
    thief.cookies = copied
    assert thief.get("/admin/").status in (302, 303, 401)


def test_the_dev_outbox_does_not_exist_in_production(site):
    assert site.visitor(25).get("/dev/outbox").status == 404


def test_the_proxy_takes_bodies_up_to_the_apps_limit_and_no_more(site):
    visitor = site.visitor(26)
    limit = 1024 * 1024  # MAX_CONTENT_LENGTH

    just_under = visitor.request("POST", "/contact", b"x" * (limit - 1024), {
        "Content-Type": "application/x-www-form-urlencoded"})
    just_over = visitor.request("POST", "/contact", b"x" * (limit + 1024), {
        "Content-Type": "application/x-www-form-urlencoded"})

    assert just_under.status == 400  # the app read it: no csrf_token
    assert just_over.status == 413


def test_other_host_names_get_no_certificate_and_no_answer(site):
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
    with (socket.create_connection(("127.0.0.1", site.stack.https_port), timeout=10) as sock,
          pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME")):
        unchecked.wrap_socket(sock, server_hostname="evil.example").close()

    with pytest.raises(http.client.RemoteDisconnected):
        site.visitor(27).get("/", Host="evil.example")
