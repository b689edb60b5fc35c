"""A forgotten password: the reset page answers the same for every address, the mailed
link (through the outbox and a real SMTP server) sets a new password once, within 30
minutes, and every old session ends."""

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from owlmail import tokens
from owlmail.auth.models import Editor
from owlmail.auth.services import authenticate, create_editor, reset_token
from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.outbox.services import drain_outbox
from tests.support.pages import hidden_fields, links_in

NEW = "ein-neues-langes-passwort"


def ask_for_link(client, email):
    page = client.get("/admin/reset")
    return client.post("/admin/reset", data={**hidden_fields(page.data), "email": email})


def set_new(client, link_path, password=NEW, repeat=None):
    page = client.get(link_path)
    return client.post(link_path, data={**hidden_fields(page.data), "new_password": password,
                                        "new_password2": repeat or password})


def mailed_link(app, smtp, email) -> str:
    with app.app_context():
        drain_outbox()
    [mail] = smtp.messages_to(email)
    [link] = links_in(mail, "/admin/reset/")
    return re.sub(r"^https?://[^/]+", "", link)


def test_the_mailed_link_sets_a_new_password_once(smtp_app, smtp):
    app = smtp_app
    with app.app_context():
        create_editor("redaktion@owl-morgen.de", "das-alte-passwort-123")
        db.session.commit()
    client = app.test_client()
    answer = ask_for_link(client, "Redaktion@owl-morgen.de")
    assert answer.status_code == 200
    path = mailed_link(app, smtp, "redaktion@owl-morgen.de")
    assert client.get(path).status_code == 200
    assert set_new(client, path).status_code == 303
    with app.app_context():
        assert authenticate("redaktion@owl-morgen.de", NEW)
        assert not authenticate("redaktion@owl-morgen.de", "das-alte-passwort-123")
    used = client.get(path)
    assert used.status_code == 400
    assert "bereits verwendet" in used.get_data(as_text=True)


def test_every_address_gets_the_same_answer_and_only_editors_a_mail(app, client, make_editor):
    make_editor()
    known = ask_for_link(client, "redaktion@owl-morgen.de").get_data(as_text=True)
    unknown = ask_for_link(client, "niemand@owl-morgen.de").get_data(as_text=True)
    strip = lambda html: re.sub(r'name="csrf_token"[^>]*', "", html)  # noqa: E731
    assert strip(known) == strip(unknown)
    with app.app_context():
        assert [m.recipients for m in db.session.query(OutboxMail)] == [
            "redaktion@owl-morgen.de"]


def test_a_link_older_than_30_minutes_is_refused(app, client, make_editor):
    editor_id = make_editor()
    with app.test_request_context():
        editor = db.session.get(Editor, editor_id)
        payload = URLSafeTimedSerializer(app.config["SECRET_KEY"],
                                         salt="owlmail.password-reset").loads(reset_token(editor))
    old = _signed_at(app, payload, seconds_ago=31 * 60)
    answer = client.get(f"/admin/reset/{old}")
    assert answer.status_code == 400
    assert "abgelaufen" in answer.get_data(as_text=True)


def _signed_at(app, payload, seconds_ago: int) -> str:
    """The same token as the app signs, but signed `seconds_ago` seconds back."""
    class Then(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - seconds_ago

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="owlmail.password-reset",
                                  signer=Then).dumps(payload)


@pytest.mark.parametrize("token", ["kaputt", "x" * 300, "eyJhIjoxfQ.abc.def"])
def test_a_broken_link_gets_a_clear_400(client, token):
    answer = client.get(f"/admin/reset/{token}")
    assert answer.status_code == 400
    assert "ungültig" in answer.get_data(as_text=True)


def test_a_token_of_another_purpose_is_no_reset_link(app, client, make_editor):
    editor_id = make_editor()
    with app.test_request_context():
        token = tokens.sign(tokens.Purpose.CONFIRM, [editor_id, "x"])
    assert client.get(f"/admin/reset/{token}").status_code == 400


def test_the_new_password_follows_the_same_length_rule(app, client, make_editor):
    editor_id = make_editor()
    with app.test_request_context():
        path = f"/admin/reset/{reset_token(db.session.get(Editor, editor_id))}"
    answer = set_new(client, path, "kurz")
    assert answer.status_code == 400
    assert "mindestens 10 Zeichen" in answer.get_data(as_text=True)
    mismatch = set_new(client, path, NEW, repeat=NEW + "x")
    assert mismatch.status_code == 400


def test_reset_requests_are_rate_limited(make_app, make_editor):
    app = make_app(RATELIMIT_ENABLED=True, RESET_RATE_LIMIT="2/minute")
    client = app.test_client()
    codes = [ask_for_link(client, "wer@owl-morgen.de").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
