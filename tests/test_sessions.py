"""A session that ended stays ended: a session cookie copied before logout, a password
change, a reset or a deactivation no longer opens the admin pages."""

import pytest

from owlmail.auth import services, sessions
from owlmail.auth.models import Editor, EditorSession
from owlmail.extensions import db
from tests.support.pages import hidden_fields

PASSWORD = "richtig-langes-passwort"


def login(client, email="redaktion@owl-morgen.de", password=PASSWORD):
    fields = hidden_fields(client.get("/admin/login").data)
    answer = client.post("/admin/login", data={**fields, "email": email, "password": password})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return answer


def stolen_copy(app, client):
    """A second browser carrying a copy of the first one's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lives
    return thief


def opens_nothing(thief) -> bool:
    answer = thief.get("/admin/")
    return answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login")


def post_form(client, page: str, action: str, data: dict):
    fields = hidden_fields(client.get(page).data)
    return client.post(action, data={**fields, **data})


def test_a_cookie_copied_before_logout_opens_nothing_afterwards(app, client, make_editor):
    make_editor()
    login(client)
    thief = stolen_copy(app, client)
    assert post_form(client, "/admin/", "/admin/logout", {}).status_code == 303
    assert opens_nothing(thief)
    assert opens_nothing(client)


def test_logging_out_in_one_browser_keeps_the_other_logged_in(app, client, make_editor):
    make_editor()
    login(client)
    laptop = app.test_client()
    login(laptop)
    post_form(client, "/admin/", "/admin/logout", {})
    assert laptop.get("/admin/").status_code == 200


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app, client,
                                                                       make_editor):
    make_editor()
    login(client)
    thief = stolen_copy(app, client)
    answer = post_form(client, "/admin/account", "/admin/account", {
        "old_password": PASSWORD, "new_password": "ein-ganz-neues-passwort",
        "new_password2": "ein-ganz-neues-passwort"})
    assert answer.status_code == 303
    assert opens_nothing(thief)
    assert client.get("/admin/").status_code == 200  # the editor who changed it stays in


def test_deactivation_ends_the_session_for_good_even_after_reactivation(app, client,
                                                                        make_editor):
    editor_id = make_editor()
    make_editor("admin@owl-morgen.de", role="admin")
    login(client)
    thief = stolen_copy(app, client)
    admin = app.test_client()
    login(admin, "admin@owl-morgen.de")
    for active in ("0", "1"):
        answer = post_form(admin, "/admin/editors", f"/admin/editors/{editor_id}/active",
                           {"active": active})
        assert answer.status_code == 303
    assert opens_nothing(thief)
    assert opens_nothing(client)


def test_a_password_reset_ends_every_session(app, client, make_editor):
    editor_id = make_editor()
    login(client)
    thief = stolen_copy(app, client)
    with app.test_request_context():
        token = services.reset_token(db.session.get(Editor, editor_id))
    stranger = app.test_client()
    answer = post_form(stranger, f"/admin/reset/{token}", f"/admin/reset/{token}", {
        "new_password": "neues-passwort-nach-reset", "new_password2": "neues-passwort-nach-reset"})
    assert answer.status_code == 303
    assert opens_nothing(thief)
    assert opens_nothing(client)


def test_a_session_cookie_for_another_editor_is_refused(app, make_editor):
    first, second = make_editor(), make_editor("zweite@owl-morgen.de")
    with app.app_context():
        key = sessions.new_key(first)
        db.session.commit()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"], cookie[sessions.SESSION_KEY] = str(second), key
    assert opens_nothing(client)


@pytest.mark.parametrize("key", [None, "", 12345, "nicht-vorhanden"])
def test_a_session_without_a_known_key_opens_nothing(app, make_editor, key):
    editor_id = make_editor()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(editor_id)
        if key is not None:
            cookie[sessions.SESSION_KEY] = key
    assert opens_nothing(client)


def test_logging_in_records_one_session_and_logging_out_removes_it(app, client, make_editor):
    make_editor()
    login(client)
    with app.app_context():
        assert db.session.query(EditorSession).count() == 1
    post_form(client, "/admin/", "/admin/logout", {})
    with app.app_context():
        assert db.session.query(EditorSession).count() == 0


def test_a_session_past_its_lifetime_opens_nothing_and_is_purged(app, client, make_editor):
    make_editor()
    login(client)
    with app.app_context():
        row = db.session.query(EditorSession).one()
        row.created_at -= app.permanent_session_lifetime
        db.session.commit()
    assert opens_nothing(client)
    with app.app_context():
        assert sessions.purge_ended() == 1


# --- the account page lists the open sessions; idle ones end --------------------------

def session_rows(app) -> list[EditorSession]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(EditorSession).order_by(EditorSession.id)))
        db.session.expunge_all()
        return rows


def test_the_account_page_lists_each_browser_and_ends_another_one(app, make_editor):
    make_editor()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop)
    login(phone)
    page = laptop.get("/admin/account").get_data(as_text=True)
    assert page.count('action="/admin/account/sessions/') == 2
    assert "(dieser Browser)" in page
    phone_session = session_rows(app)[-1]
    answer = post_form(laptop, "/admin/account", f"/admin/account/sessions/{phone_session.id}/end",
                       {})
    assert answer.status_code == 303
    assert opens_nothing(phone)
    assert laptop.get("/admin/").status_code == 200  # only the other browser's session ended
    assert len(session_rows(app)) == 1


def test_an_editor_cannot_end_someone_else_s_session(app, make_editor):
    make_editor()
    make_editor(email="zweite@owl-morgen.de")
    mine, theirs = app.test_client(), app.test_client()
    login(mine)
    login(theirs, email="zweite@owl-morgen.de")
    their_session = session_rows(app)[-1]
    answer = post_form(mine, "/admin/account", f"/admin/account/sessions/{their_session.id}/end",
                       {})
    assert answer.status_code == 404
    assert theirs.get("/admin/").status_code == 200


def test_ending_this_browser_s_session_logs_out(app, client, make_editor):
    make_editor()
    login(client)
    [row] = session_rows(app)
    answer = post_form(client, "/admin/account", f"/admin/account/sessions/{row.id}/end", {})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/admin/login")
    assert opens_nothing(client)


def test_a_session_idle_for_longer_than_the_setting_has_ended(make_app, make_editor):
    from datetime import timedelta

    from owlmail.timeutil import utcnow

    app = make_app(SESSION_IDLE_HOURS=8)
    make_editor()
    client = app.test_client()
    login(client)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        db.session.execute(db.update(EditorSession).values(
            last_seen_at=utcnow() - timedelta(hours=7, minutes=50)))
        db.session.commit()
    assert client.get("/admin/").status_code == 200  # used within the 8 hours: noted again
    with app.app_context():
        seen = db.session.scalar(db.select(EditorSession.last_seen_at))
        assert utcnow() - seen < timedelta(minutes=1)
        db.session.execute(db.update(EditorSession).values(
            last_seen_at=utcnow() - timedelta(hours=8, minutes=1)))
        db.session.commit()
    assert opens_nothing(client)


def test_last_use_is_noted_at_most_once_a_minute(app, client, make_editor):
    make_editor()
    login(client)
    first = session_rows(app)[0].last_seen_at
    for _ in range(3):
        assert client.get("/admin/").status_code == 200
    assert session_rows(app)[0].last_seen_at == first
