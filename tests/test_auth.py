"""Editors log in, change their password, and admins manage the accounts."""

import pytest

from owlmail.auth import services
from owlmail.auth.models import Editor
from owlmail.extensions import db
from tests.support.pages import hidden_fields

PASSWORD = "richtig-langes-passwort"
WRONG = "E-Mail-Adresse oder Passwort ist falsch."


def login(client, email, password, next_url=None):
    """Fill the login form as a browser would (CSRF token and hidden next included)."""
    page = client.get("/admin/login" + (f"?next={next_url}" if next_url else ""))
    fields = hidden_fields(page.data)
    return client.post("/admin/login", data={**fields, "email": email, "password": password})


# --- logging in ------------------------------------------------------------

def test_an_editor_logs_in_and_reaches_the_dashboard(client, make_editor):
    make_editor()
    answer = login(client, "Redaktion@owl-morgen.de", PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/"
    assert client.get("/admin/account").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    answer = client.get("/admin/subscribers")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/login?next=")


@pytest.mark.parametrize("email, password", [
    ("redaktion@owl-morgen.de", "falsches-passwort"),
    ("niemand@owl-morgen.de", PASSWORD),
])
def test_wrong_password_and_unknown_address_get_the_same_answer(client, make_editor,
                                                                 email, password):
    make_editor()
    answer = login(client, email, password)
    assert answer.status_code == 401
    assert WRONG in answer.get_data(as_text=True)
    assert client.get("/admin/account").status_code == 302


def test_a_deactivated_editor_cannot_log_in(app, client, make_editor):
    editor_id = make_editor()
    with app.app_context():
        db.session.get(Editor, editor_id).active = False
        db.session.commit()
    assert WRONG in login(client, "redaktion@owl-morgen.de", PASSWORD).get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, make_editor):
    make_editor()
    answer = client.post("/admin/login", data={"email": "redaktion@owl-morgen.de",
                                               "password": PASSWORD})
    assert answer.status_code == 400
    assert "Formular" in answer.get_data(as_text=True)


def test_too_many_login_attempts_get_a_german_429(make_app, make_editor):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3/minute")
    client = app.test_client()
    for _attempt in range(3):
        assert login(client, "redaktion@owl-morgen.de", "falsch-falsch").status_code == 401
    answer = login(client, "redaktion@owl-morgen.de", "falsch-falsch")
    assert answer.status_code == 429
    assert "Zu viele Anfragen" in answer.get_data(as_text=True)


def test_login_goes_back_to_the_page_asked_for(client, make_editor):
    make_editor()
    answer = login(client, "redaktion@owl-morgen.de", PASSWORD, next_url="/admin/subscribers")
    assert answer.headers["Location"] == "/admin/subscribers"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
    "\t//evil.example", "/admin\r\nSet-Cookie: x=1", "admin",
])
def test_login_never_redirects_off_the_site(client, make_editor, target):
    make_editor()
    page = client.get("/admin/login")
    fields = {**hidden_fields(page.data), "next": target}
    answer = client.post("/admin/login", data={**fields, "email": "redaktion@owl-morgen.de",
                                               "password": PASSWORD})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/"


def test_login_starts_a_fresh_session(client, make_editor):
    make_editor()
    client.get("/admin/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        before = session["csrf_token"]
    login(client, "redaktion@owl-morgen.de", PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != before


def test_logout_needs_a_post_with_csrf_and_ends_the_session(editor_client):
    assert editor_client.get("/admin/logout").status_code == 405
    assert editor_client.post("/admin/logout").status_code == 400
    token = hidden_fields(editor_client.get("/admin/account").data)["csrf_token"]
    answer = editor_client.post("/admin/logout", data={"csrf_token": token},
                                follow_redirects=True)
    assert "Sie haben sich abgemeldet." in answer.get_data(as_text=True)
    assert editor_client.get("/admin/account").status_code == 302


# --- own password ----------------------------------------------------------

def change(client, old, new, again=None):
    token = hidden_fields(client.get("/admin/account").data)["csrf_token"]
    return client.post("/admin/account", data={
        "csrf_token": token, "old_password": old, "new_password": new,
        "new_password2": new if again is None else again})


@pytest.mark.parametrize("old, new, again, message", [
    ("falsches-passwort", "ein-neues-passwort", None, "Das bisherige Passwort stimmt nicht."),
    (PASSWORD, "kurz", None, "mindestens 10 Zeichen"),
    (PASSWORD, "ein-neues-passwort", "ein-anderes-passwort", "stimmen nicht überein"),
])
def test_password_change_refuses_mistakes(editor_client, old, new, again, message):
    answer = change(editor_client, old, new, again)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_password_change_takes_effect(app, editor_client):
    answer = change(editor_client, PASSWORD, "ein-neues-passwort")
    assert answer.status_code == 303
    with app.app_context():
        assert services.authenticate("redaktion@owl-morgen.de", "ein-neues-passwort")
        assert services.authenticate("redaktion@owl-morgen.de", PASSWORD) is None


# --- roles and the admins' account list --------------------------------------

@pytest.mark.parametrize("path", ["/admin/editors", "/admin/topics", "/admin/import"])
def test_editors_may_not_open_admin_only_pages(editor_client, path):
    answer = editor_client.get(path)
    assert answer.status_code == 403
    assert "Berechtigung" in answer.get_data(as_text=True)


def test_an_admin_creates_and_deactivates_an_editor(app, admin_client):
    page = admin_client.get("/admin/editors")
    token = hidden_fields(page.data)["csrf_token"]
    answer = admin_client.post("/admin/editors", data={
        "csrf_token": token, "email": "Neu@Owl-Morgen.de", "name": "Neue Redakteurin",
        "role": "editor", "password": "ein-gutes-passwort"}, follow_redirects=True)
    assert "Das Konto für neu@owl-morgen.de wurde angelegt." in answer.get_data(as_text=True)
    with app.app_context():
        new_id = services.editor_by_email("neu@owl-morgen.de").id
    newcomer = app.test_client()
    assert login(newcomer, "neu@owl-morgen.de", "ein-gutes-passwort").status_code == 303
    admin_client.post(f"/admin/editors/{new_id}/active", data={"csrf_token": token,
                                                                "active": "0"})
    assert newcomer.get("/admin/account").status_code == 302  # the session is gone too
    with app.app_context():
        assert services.editor_by_email("neu@owl-morgen.de").active is False


def test_an_admin_cannot_create_a_second_account_for_an_address(admin_client):
    token = hidden_fields(admin_client.get("/admin/editors").data)["csrf_token"]
    answer = admin_client.post("/admin/editors", data={
        "csrf_token": token, "email": "admin@owl-morgen.de", "role": "editor",
        "password": "ein-gutes-passwort"})
    assert answer.status_code == 400
    assert "Es gibt bereits ein Konto" in answer.get_data(as_text=True)


def test_an_admin_cannot_deactivate_themselves(app, admin_client):
    with app.app_context():
        own_id = services.editor_by_email("admin@owl-morgen.de").id
    token = hidden_fields(admin_client.get("/admin/editors").data)["csrf_token"]
    answer = admin_client.post(f"/admin/editors/{own_id}/active",
                               data={"csrf_token": token, "active": "0"}, follow_redirects=True)
    assert "nicht deaktivieren" in answer.get_data(as_text=True)
    assert admin_client.get("/admin/account").status_code == 200


# --- command line ----------------------------------------------------------

def test_cli_creates_an_editor_with_a_piped_password_and_issues_a_token(app, runner):
    created = runner.invoke(args=["editor", "create", "chefin@owl-morgen.de", "--role",
                                  "admin"], input="ein-sehr-gutes-passwort\n")
    assert created.exit_code == 0, created.output
    issued = runner.invoke(args=["editor", "token", "chefin@owl-morgen.de"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    with app.app_context():
        editor = services.editor_for_token(token)
        assert editor.email == "chefin@owl-morgen.de" and editor.is_admin
        assert services.authenticate("chefin@owl-morgen.de", "ein-sehr-gutes-passwort")


@pytest.mark.parametrize("args, password, message", [
    (["editor", "create", "x@owl-morgen.de"], "kurz\n", "mindestens 10 Zeichen"),
    (["editor", "create", "x@owl-morgen.de", "--role", "chef"], "lang-genug-1234\n", "chef"),
    (["editor", "token", "niemand@owl-morgen.de"], "", "Kein aktives Konto"),
])
def test_cli_refuses_bad_input_clearly(runner, args, password, message):
    result = runner.invoke(args=args, input=password)
    assert result.exit_code != 0
    assert message in result.output


def test_dev_login_prints_a_working_admin_login(app, runner):
    result = runner.invoke(args=["editor", "dev-login"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert result.exit_code == 1
        assert "nur für die Entwicklung" in result.output
        return
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5000/admin/login" in result.output
    password = result.output.split("Passwort: ")[1].split()[0]
    with app.app_context():
        editor = services.authenticate("admin@owl-morgen.de", password)
        assert editor is not None and editor.is_admin
    again = runner.invoke(args=["editor", "dev-login"])
    assert again.output.split("Passwort: ")[1].split()[0] != password


def test_dev_login_refuses_when_a_mail_server_is_configured(make_app):
    app = make_app(MAIL_SERVER="smtp.owl-morgen.de")
    result = app.test_cli_runner().invoke(args=["editor", "dev-login"])
    assert result.exit_code == 1
    assert "MAIL_SERVER" in result.output
    with app.app_context():
        assert services.editor_by_email("admin@owl-morgen.de") is None
