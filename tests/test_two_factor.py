"""Two-factor login (TOTP): enrolment on the account page, the code step after the
password, codes taken once, recovery codes, limits per account, and what admins can do."""

import re
import time

import pyotp
import pytest

from owlmail.auth.models import Editor, RecoveryCode
from owlmail.auth.views import PENDING
from owlmail.extensions import db
from tests.conftest import log_in
from tests.support.pages import hidden_fields

PASSWORD = "richtig-langes-passwort"
EMAIL = "redaktion@owl-morgen.de"


def password_step(client, email=EMAIL, password=PASSWORD):
    fields = hidden_fields(client.get("/admin/login").data)
    return client.post("/admin/login", data={**fields, "email": email, "password": password})


def login_with_code(client, code, email=EMAIL):
    page = password_step(client, email)
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    fields = hidden_fields(page.data)
    return client.post("/admin/login", data={**fields, "code": code})


def enrol(client) -> tuple[str, list[str]]:
    """Turn two-factor on through the account page; the secret and the recovery codes."""
    page = client.get("/admin/account/two-factor")
    html = page.get_data(as_text=True)
    assert "<svg" in html
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html).group(1)
    answer = client.post("/admin/account/two-factor", data={
        **hidden_fields(page.data), "code": pyotp.TOTP(secret).now()})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    codes = re.findall(r"<li>([A-Z0-9]{5}-[A-Z0-9]{5})</li>", answer.get_data(as_text=True))
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30-second step (the current one was used to enrol)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def enrolled(app, make_editor):
    """An editor with two-factor on (through the account page): (secret, recovery codes)."""
    client = app.test_client()
    log_in(client, make_editor())
    return enrol(client)


def test_an_editor_turns_two_factor_on_with_the_qr_page_and_a_first_code(app, enrolled):
    secret, codes = enrolled
    assert len(codes) == 10 and len(set(codes)) == 10
    with app.app_context():
        editor = db.session.query(Editor).filter_by(email=EMAIL).one()
        assert editor.totp_secret == secret and editor.totp_pending_secret is None
        stored = [row.code_hash for row in db.session.query(RecoveryCode)]
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept


def test_a_wrong_first_code_leaves_two_factor_off(app, editor_client):
    page = editor_client.get("/admin/account/two-factor")
    answer = editor_client.post("/admin/account/two-factor",
                                data={**hidden_fields(page.data), "code": "000000"})
    assert answer.status_code == 400
    assert "Der Code stimmt nicht" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Editor).one().totp_secret is None


def test_after_the_password_the_login_asks_for_a_code_and_a_right_one_logs_in(app, enrolled):
    secret, _codes = enrolled
    client = app.test_client()
    page = password_step(client)
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    assert not logged_in(client)  # the password alone opens nothing
    answer = code_step_from(client, page, next_code(secret))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert logged_in(client)


def code_step_from(client, page, code):
    return client.post("/admin/login", data={**hidden_fields(page.data), "code": code})


def test_a_wrong_code_is_a_401_and_logs_nobody_in(app, enrolled):
    client = app.test_client()
    answer = login_with_code(client, "123456")
    assert answer.status_code == 401
    assert "Der Code stimmt nicht" in answer.get_data(as_text=True)
    assert not logged_in(client)


def test_a_code_is_accepted_once_only(app, enrolled):
    secret, _codes = enrolled
    code = next_code(secret)
    first, second = app.test_client(), app.test_client()
    assert login_with_code(first, code).status_code == 303
    assert login_with_code(second, code).status_code == 401
    assert not logged_in(second)


def test_a_recovery_code_logs_in_once(app, enrolled):
    _secret, codes = enrolled
    first, second = app.test_client(), app.test_client()
    assert login_with_code(first, codes[0].lower()).status_code == 303
    assert login_with_code(second, codes[0]).status_code == 401
    assert login_with_code(second, codes[1]).status_code == 303


def test_a_code_without_the_password_step_is_refused(app, enrolled):
    secret, _codes = enrolled
    client = app.test_client()
    fields = hidden_fields(client.get("/admin/login").data)
    answer = client.post("/admin/login", data={**fields, "code": next_code(secret)})
    assert answer.status_code == 400
    assert not logged_in(client)


def test_the_code_step_expires_after_five_minutes(app, enrolled):
    secret, _codes = enrolled
    client = app.test_client()
    page = password_step(client)
    with client.session_transaction() as cookie:
        pending = cookie[PENDING]
        cookie[PENDING] = {**pending, "at": pending["at"] - 301}  # the password came earlier
    assert code_step_from(client, page, next_code(secret)).status_code == 400
    assert not logged_in(client)


def test_code_attempts_are_limited_per_account_across_addresses(make_app, make_editor):
    app = make_app(RATELIMIT_ENABLED=True, TWO_FACTOR_RATE_LIMIT="2/minute",
                   LOGIN_RATE_LIMIT="100/minute")
    client = app.test_client()
    log_in(client, make_editor())
    enrol(client)
    answers = []
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = address
        answers.append(login_with_code(visitor, "000000").status_code)
    assert answers == [401, 401, 429]


def test_required_two_factor_sends_an_editor_without_it_to_the_setup(make_app, make_editor):
    app = make_app(REQUIRE_TWO_FACTOR=True)
    client = app.test_client()
    log_in(client, make_editor())
    answer = client.get("/admin/subscribers")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/account/two-factor"
    enrol(client)
    assert client.get("/admin/subscribers").status_code == 200


def test_an_admin_resets_two_factor_for_an_editor(app, enrolled, make_editor):
    admin = app.test_client()
    log_in(admin, make_editor("admin@owl-morgen.de", role="admin"))
    with app.app_context():
        editor_id = db.session.query(Editor).filter_by(email=EMAIL).one().id
    page = admin.get("/admin/editors")
    answer = admin.post(f"/admin/editors/{editor_id}/two-factor/reset",
                        data=hidden_fields(page.data))
    assert answer.status_code == 303
    client = app.test_client()
    assert password_step(client).status_code == 303  # the password alone logs in again
    with app.app_context():
        assert db.session.query(RecoveryCode).count() == 0


def test_an_editor_cannot_reset_two_factor_of_others(app, enrolled, make_editor):
    other = app.test_client()
    log_in(other, make_editor("kollege@owl-morgen.de"))
    page = other.get("/admin/account")
    answer = other.post("/admin/editors/1/two-factor/reset", data=hidden_fields(page.data))
    assert answer.status_code == 403


def test_the_command_line_turns_two_factor_on_and_prints_the_uri_last(app, runner,
                                                                      make_editor):
    make_editor()
    result = runner.invoke(args=["editor", "totp", EMAIL])
    assert result.exit_code == 0, result.output
    uri = result.output.strip().splitlines()[-1]
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.parse_uri(uri)
    client = app.test_client()
    assert login_with_code(client, totp.now()).status_code == 303
    assert logged_in(client)


def test_new_recovery_codes_need_a_current_code_and_replace_the_old_ones(app, make_editor):
    client = app.test_client()
    log_in(client, make_editor())
    secret, old_codes = enrol(client)
    page = client.get("/admin/account")
    refused = client.post("/admin/account/recovery-codes",
                          data={**hidden_fields(page.data), "recovery-code": "000000"})
    assert refused.status_code == 400
    answer = client.post("/admin/account/recovery-codes",
                         data={**hidden_fields(page.data), "recovery-code": next_code(secret)})
    assert answer.status_code == 200
    new_codes = re.findall(r"<li>([A-Z0-9]{5}-[A-Z0-9]{5})</li>", answer.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert login_with_code(app.test_client(), old_codes[0]).status_code == 401
    assert login_with_code(app.test_client(), new_codes[0]).status_code == 303
