"""Input PostgreSQL cannot store or compare (NUL bytes, lone surrogates, integers beyond
32 bits) is refused with a clear 4xx at the edge, never a 500, on every database."""

import pytest

from tests.conftest import log_in

BIG = str(2**31)
HUGE = str(2**63)


@pytest.fixture
def staff(app, make_editor):
    """A client logged in as an admin."""
    client = app.test_client()
    log_in(client, make_editor("admin@owl-morgen.de", role="admin"))
    return client


@pytest.mark.parametrize("url", [
    "/admin/subscribers?q=a%00b",
    "/admin/subscribers?topic=it%00",
    "/admin/contact/?topic=it%00",
    "/admin/campaigns?q=a%00b",
    "/admin/contact/?page=" + HUGE,
    "/admin/subscribers/" + BIG,
    "/admin/subscribers/" + HUGE,
    "/admin/campaigns/" + BIG,
    "/admin/contact/" + BIG,
])
def test_admin_pages_refuse_input_the_database_cannot_take(staff, url):
    response = staff.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize("url", [
    "/archive/a%00b",
    "/?lang=en%00",
    "/confirm/abc%00def",
    "/contact?topic=x%00",
])
def test_public_pages_refuse_nul_bytes(client, url):
    response = client.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)
    assert response.mimetype == "text/html"


def test_login_with_a_nul_byte_in_the_address_gets_a_german_400(app):
    app.config["WTF_CSRF_ENABLED"] = False
    response = app.test_client().post("/admin/login", data={
        "email": "a\x00b@owl-morgen.de", "password": "x"})
    assert response.status_code == 400


def test_a_page_number_no_offset_can_hold_gets_a_german_400(staff):
    response = staff.get("/admin/contact/?page=" + HUGE)
    assert response.status_code == 400
    assert "Seitenzahl" in response.text


@pytest.fixture
def api(app):
    from tests.test_api import Api, make_token

    return Api(app.test_client(), make_token(app))


@pytest.mark.parametrize("call", [
    ("get", "/subscribers?q=a%00b", {}),
    ("get", "/subscribers?topic=it%00", {}),
    ("get", "/archive%00", {}),
    ("get", "/campaigns/" + BIG, {}),
    ("get", "/subscribers/" + HUGE, {}),
    ("post", "/campaigns", {"json": {"subject": "a\x00b", "body": "x", "topics": []}}),
    ("post", "/campaigns", {"json": {"subject": "\ud800", "body": "x", "topics": []}}),
    ("post", "/campaigns", {"json": {"subject": "s", "body": "x", "topics": [], "x": 2**31}}),
    ("patch", "/campaigns/1", {"json": {"segment": {"kreis\x00": ["lippe"]}}}),
])
def test_the_api_refuses_unstorable_input_with_a_json_4xx(api, call):
    method, path, kwargs = call
    response = getattr(api, method)(path, **kwargs)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert response.is_json
    assert set(response.json["error"]) == {"code", "message"}


def test_a_json_body_with_a_lone_surrogate_is_named_in_german(api):
    response = api.post("/campaigns", data='{"subject": "\\ud800", "body": "x", "topics": []}',
                        content_type="application/json")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert "Nullbyte" in response.json["error"]["message"]


def test_a_json_body_nested_too_deep_to_parse_is_a_422_not_a_500(api):
    response = api.post("/campaigns", data="[" * 100_000, content_type="application/json")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"


def test_a_form_field_with_a_nul_byte_gets_the_german_page(browser_form):
    response = browser_form.submit("/contact", {"name": "a\x00", "email": "x@example.org"})
    assert response.status_code == 400
    assert "Zeichen oder Zahlen" in response.text


def test_an_uploaded_file_named_with_a_nul_byte_is_refused(staff):
    from tests.test_import_export import upload

    answer = upload(staff, b"email\nanna@example.org\n", filename="liste\x00.csv")
    assert answer.status_code == 400
    assert "Zeichen oder Zahlen" in answer.text
