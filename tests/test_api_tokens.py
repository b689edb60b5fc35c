"""API tokens: named, optionally expiring, listed with their last use on the account page,
revoked one by one there or all at once on the command line; then 401 JSON."""

import re
from datetime import timedelta

from sqlalchemy import select

from owlmail.auth.models import ApiToken, Editor
from owlmail.auth.services import new_api_token
from owlmail.extensions import db
from owlmail.timeutil import utcnow
from tests.support.pages import hidden_fields


def call(app, token):
    return app.test_client().get("/api/v1/topics", headers={"Authorization": f"Bearer {token}"})


def create_on_account_page(client, name, expires_on=""):
    page = client.get("/admin/account")
    return client.post("/admin/account/tokens", data={
        **hidden_fields(page.data), "name": name, "expires_on": expires_on})


def test_an_editor_creates_a_named_token_sees_it_once_and_it_works(app, editor_client):
    answer = create_on_account_page(editor_client, "Redaktionsskript")
    assert answer.status_code == 201
    token = re.search(r'id="new-token">(owl_[^<]+)<', answer.get_data(as_text=True)).group(1)
    assert call(app, token).status_code == 200
    page = editor_client.get("/admin/account").get_data(as_text=True)
    assert "Redaktionsskript" in page and token not in page


def test_the_account_page_shows_the_last_use(app, editor_client):
    token = re.search(r'id="new-token">(owl_[^<]+)<', create_on_account_page(
        editor_client, "Skript").get_data(as_text=True)).group(1)
    assert "nie" in editor_client.get("/admin/account").get_data(as_text=True)
    call(app, token)
    with app.app_context():
        used = db.session.scalar(select(ApiToken.last_used_at))
    assert used is not None
    assert used.strftime("%d.%m.%Y") in editor_client.get("/admin/account").get_data(
        as_text=True)


def test_last_use_is_written_at_most_once_a_minute(app, make_editor):
    editor_id = make_editor()
    with app.app_context():
        token, row = new_api_token(db.session.get(Editor, editor_id), "x")
        db.session.commit()
        token_id = row.id
    call(app, token)
    with app.app_context():
        first = db.session.get(ApiToken, token_id).last_used_at
    call(app, token)
    with app.app_context():
        assert db.session.get(ApiToken, token_id).last_used_at == first
        db.session.get(ApiToken, token_id).last_used_at = first - timedelta(minutes=2)
        db.session.commit()
    call(app, token)
    with app.app_context():
        assert db.session.get(ApiToken, token_id).last_used_at > first - timedelta(minutes=2)


def test_a_revoked_token_gets_401_json(app, editor_client):
    token = re.search(r'id="new-token">(owl_[^<]+)<', create_on_account_page(
        editor_client, "Alt").get_data(as_text=True)).group(1)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    page = editor_client.get("/admin/account")
    answer = editor_client.post(f"/admin/account/tokens/{token_id}/revoke",
                                data=hidden_fields(page.data))
    assert answer.status_code == 303
    refused = call(app, token)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_token"
    assert "widerrufen" in editor_client.get("/admin/account").get_data(as_text=True)


def test_an_expired_token_gets_401_json(app, make_editor):
    editor_id = make_editor()
    with app.app_context():
        token, _row = new_api_token(db.session.get(Editor, editor_id), "kurz",
                                    expires_at=utcnow() - timedelta(seconds=1))
        db.session.commit()
    refused = call(app, token)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"


def test_an_expiry_date_in_the_past_is_refused_on_the_page(editor_client):
    answer = create_on_account_page(editor_client, "Alt", expires_on="2020-01-01")
    assert answer.status_code == 400
    assert "in der Zukunft" in answer.get_data(as_text=True)


def test_a_token_with_an_expiry_date_works_until_then(app, editor_client):
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    answer = create_on_account_page(editor_client, "Befristet", expires_on=tomorrow)
    token = re.search(r'id="new-token">(owl_[^<]+)<', answer.get_data(as_text=True)).group(1)
    assert call(app, token).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(ApiToken.expires_at)) is not None


def test_nobody_revokes_another_editors_token(app, editor_client, make_editor):
    other = make_editor("andere@owl-morgen.de")
    with app.app_context():
        token, row = new_api_token(db.session.get(Editor, other), "fremd")
        db.session.commit()
        token_id = row.id
    page = editor_client.get("/admin/account")
    answer = editor_client.post(f"/admin/account/tokens/{token_id}/revoke",
                                data=hidden_fields(page.data))
    assert answer.status_code == 404
    assert call(app, token).status_code == 200


def test_the_command_line_revokes_every_token_of_an_editor(app, runner, make_editor):
    make_editor()
    tokens = [runner.invoke(args=["editor", "token", "redaktion@owl-morgen.de", "--name", n]
                            ).output.strip().splitlines()[-1] for n in ("a", "b")]
    assert all(call(app, token).status_code == 200 for token in tokens)
    result = runner.invoke(args=["editor", "revoke", "redaktion@owl-morgen.de"])
    assert result.exit_code == 0, result.output
    assert "2 API-Token" in result.output
    assert [call(app, token).status_code for token in tokens] == [401, 401]


def test_the_command_line_token_can_expire(app, runner, make_editor):
    make_editor()
    result = runner.invoke(args=["editor", "token", "redaktion@owl-morgen.de", "--days", "7"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        expires = db.session.scalar(select(ApiToken.expires_at))
    assert timedelta(days=6) < expires - utcnow() <= timedelta(days=7)
