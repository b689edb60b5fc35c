"""The audit log: every action an editor relies on being traceable writes one entry with
its change; admins read it with filters, as CSV and through the API; an erased person's
address never appears in it; old entries are purged."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from owlmail import audit
from owlmail.audit.models import AuditEntry
from owlmail.audit.services import purge_expired
from owlmail.auth.models import Role
from owlmail.auth.services import create_editor, issue_api_token
from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from owlmail.timeutil import utcnow
from tests.conftest import log_in
from tests.support.pages import hidden_fields

PASSWORD = "richtig-langes-passwort"
BODY = "Hallo {% if name %}{{ name }}{% else %}zusammen{% endif %},\n\nNeues aus OWL."


def entries(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(e.actor, e.action, e.target) for e in
                db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def post_form(client, page: str, action: str, data: dict):
    return client.post(action, data={**hidden_fields(client.get(page).data), **data})


def add_subscriber(app, email="anna.schmidt@example.org") -> int:
    with app.app_context():
        person = Subscriber(email=email, email_key=email, name="Anna Schmidt",
                            status=SubscriberStatus.CONFIRMED)
        person.consent_events.append(ConsentEvent(action="requested", ip="192.0.2.1"))
        db.session.add(person)
        db.session.commit()
        return person.id


@pytest.fixture
def admin(app, make_editor):
    client = app.test_client()
    log_in(client, make_editor("chefin@owl-morgen.de", role="admin"))
    return client


def token_for(app, email, role="admin") -> dict:
    with app.app_context():
        token = issue_api_token(create_editor(email, PASSWORD, Role(role)), "t")
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_log_ins_and_failed_log_ins_are_recorded(app, client, make_editor):
    make_editor()
    for password in ("falsch-falsch-falsch", PASSWORD):
        post_form(client, "/admin/login", "/admin/login",
                  {"email": "redaktion@owl-morgen.de", "password": password})
    post_form(app.test_client(), "/admin/login", "/admin/login",
              {"email": "fremd@example.org", "password": PASSWORD})
    assert entries(app) == [
        ("anonymous", "login.failed", "editor redaktion@owl-morgen.de"),
        ("redaktion@owl-morgen.de", "login", "editor redaktion@owl-morgen.de"),
        ("anonymous", "login.failed", "unknown address"),  # a typed address is not kept
    ]


def test_each_campaign_action_on_the_pages_is_recorded(app, editor_client):
    page = "/admin/campaigns/new"
    created = post_form(editor_client, page, page, {"subject": "Neues", "body": BODY,
                                                    "template": "standard"})
    campaign_id = int(created.headers["Location"].rsplit("/", 1)[1])
    page = f"/admin/campaigns/{campaign_id}"
    post_form(editor_client, page, f"{page}/test", {"test-emails": "test@owl-morgen.de"})
    post_form(editor_client, page, f"{page}/schedule", {"schedule-send_at": "2099-06-02T09:00"})
    for step in ("pause", "resume", "send-now", "pause", "cancel"):
        assert post_form(editor_client, page, f"{page}/{step}", {}).status_code == 303
    actions = [action for _actor, action, target in entries(app)
               if target == f"campaign #{campaign_id}"]
    assert actions == ["campaign.create", "campaign.test", "campaign.schedule",
                       "campaign.pause", "campaign.resume", "campaign.send-now",
                       "campaign.pause", "campaign.cancel"]


def test_a_refused_campaign_action_writes_nothing(app, editor_client):
    page = "/admin/campaigns/new"
    created = post_form(editor_client, page, page, {"subject": "Neues", "body": BODY,
                                                    "template": "standard"})
    page = created.headers["Location"]
    post_form(editor_client, page, f"{page}/resume", {})  # a draft cannot be resumed
    assert [action for _a, action, _t in entries(app)] == ["campaign.create"]


def test_campaign_actions_through_the_api_are_recorded(app, client):
    headers = token_for(app, "skript@owl-morgen.de", "editor")
    created = client.post("/api/v1/campaigns", headers=headers,
                          json={"subject": "API", "body": BODY, "topics": []})
    campaign_id = created.json["id"]
    for path, body in (("test", {"emails": ["t@owl-morgen.de"]}), ("schedule", {"send_at": None}),
                       ("pause", None), ("resume", None), ("cancel", None)):
        answer = client.post(f"/api/v1/campaigns/{campaign_id}/{path}", headers=headers,
                             json=body)
        assert answer.status_code < 300, answer.json
    assert [(actor, action) for actor, action, _t in entries(app)] == [
        ("skript@owl-morgen.de", "campaign.create"), ("skript@owl-morgen.de", "campaign.test"),
        ("skript@owl-morgen.de", "campaign.send-now"), ("skript@owl-morgen.de", "campaign.pause"),
        ("skript@owl-morgen.de", "campaign.resume"), ("skript@owl-morgen.de", "campaign.cancel")]


def test_erasure_is_recorded_without_the_address_anywhere(app, admin):
    subscriber_id = add_subscriber(app)
    page = f"/admin/subscribers/{subscriber_id}"
    admin.get(page)  # an editor looked at the person before
    assert post_form(admin, f"{page}/erase", f"{page}/erase", {"sure": "y"}).status_code == 303
    assert ("chefin@owl-morgen.de", "subscriber.erased", f"subscriber #{subscriber_id}") in \
        entries(app)
    log = admin.get("/admin/audit/").get_data(as_text=True)
    export = admin.get("/admin/audit/export.csv").get_data(as_text=True)
    api = admin.application.test_client().get(
        "/api/v1/audit", headers=token_for(app, "pruefung@owl-morgen.de")).get_data(as_text=True)
    for seen in (log, export, api, repr(entries(app))):
        assert "anna.schmidt" not in seen and "Schmidt" not in seen


def test_erasure_through_the_api_is_recorded(app, client):
    subscriber_id = add_subscriber(app)
    headers = token_for(app, "chefin@owl-morgen.de")
    assert client.delete(f"/api/v1/subscribers/{subscriber_id}", headers=headers
                         ).status_code == 204
    assert entries(app)[-1] == ("chefin@owl-morgen.de", "subscriber.erased",
                                f"subscriber #{subscriber_id}")


def test_imports_exports_topics_editors_and_tokens_are_recorded(app, admin):
    admin.get("/admin/subscribers/export.csv").get_data()
    upload = (b"email,name,topics,status,confirmed_at,consent_source\r\n"
              b"neu@example.org,,it,pending,,\r\n")
    post_form(admin, "/admin/import", "/admin/import",
              {"file": (io.BytesIO(upload), "liste.csv")})
    post_form(admin, "/admin/topics", "/admin/topics", {"slug": "kultur", "name": "Kultur"})
    post_form(admin, "/admin/editors", "/admin/editors", {
        "email": "neu@owl-morgen.de", "name": "", "role": "editor", "password": PASSWORD})
    post_form(admin, "/admin/account", "/admin/account/tokens", {"name": "Skript"})
    assert [(action, target) for _actor, action, target in entries(app)] == [
        ("subscribers.export", "subscribers"), ("subscribers.import", "subscribers (1)"),
        ("topic.changed", "topic kultur"), ("editor.created", "editor neu@owl-morgen.de"),
        ("token.created", "token #1 (Skript)")]


def test_the_audit_page_filters_by_actor_action_and_day(app, admin):
    with app.app_context():
        audit.record("anna@owl-morgen.de", audit.AuditAction.CAMPAIGN_CREATED, "campaign #1")
        audit.record("bernd@owl-morgen.de", audit.AuditAction.TOPIC_CHANGED, "topic it")
        db.session.commit()
    by_actor = admin.get("/admin/audit/?actor=bernd").get_data(as_text=True)
    assert "topic it" in by_actor and "campaign #1" not in by_actor
    by_action = admin.get("/admin/audit/?action=campaign.create").get_data(as_text=True)
    assert "campaign #1" in by_action and "topic it" not in by_action
    assert "campaign #1" not in admin.get("/admin/audit/?since=2099-01-01").get_data(
        as_text=True)
    rows = list(csv.reader(io.StringIO(admin.get(
        "/admin/audit/export.csv?actor=anna").get_data(as_text=True))))
    assert rows[0] == ["at", "actor", "action", "target"]
    assert [row[1:] for row in rows[1:]] == [["anna@owl-morgen.de", "campaign.create",
                                               "campaign #1"]]


@pytest.mark.parametrize("query", ["since=gestern", "action=erfunden", "page=0",
                                   "actor=%00", "page=99999999999999999999"])
def test_bad_filters_get_a_clear_400(admin, query):
    answer = admin.get(f"/admin/audit/?{query}")
    assert answer.status_code == 400
    assert "Bitte prüfen Sie" in answer.get_data(as_text=True)


def test_only_admins_read_the_audit_log(app, editor_client, client):
    assert editor_client.get("/admin/audit/").status_code == 403
    assert editor_client.get("/admin/audit/export.csv").status_code == 403
    answer = client.get("/api/v1/audit", headers=token_for(app, "r@owl-morgen.de", "editor"))
    assert answer.status_code == 403 and answer.json["error"]["code"] == "forbidden"


def test_the_api_pages_through_the_log_with_a_cursor(app, client):
    headers = token_for(app, "chefin@owl-morgen.de")
    with app.app_context():
        for number in range(5):
            audit.record("cli", audit.AuditAction.IMPORT, f"subscribers ({number})")
        db.session.commit()
    first = client.get("/api/v1/audit?limit=3", headers=headers).json
    assert [item["target"] for item in first["items"]] == [
        "subscribers (0)", "subscribers (1)", "subscribers (2)"]
    assert set(first["items"][0]) == {"at", "actor", "action", "target"}
    rest = client.get(f"/api/v1/audit?limit=3&after={first['next']}", headers=headers).json
    assert [item["target"] for item in rest["items"]] == ["subscribers (3)", "subscribers (4)"]
    assert rest["next"] is None
    bad = client.get("/api/v1/audit?after=x", headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid"


def test_entries_older_than_the_retention_are_purged(make_app):
    app = make_app(AUDIT_RETENTION_DAYS=730)
    with app.app_context():
        old = audit.record("cli", audit.AuditAction.EXPORT, "alt")
        old.at = utcnow() - timedelta(days=731)
        audit.record("cli", audit.AuditAction.EXPORT, "neu")
        db.session.commit()
        assert purge_expired() == 1
    assert [target for _a, _b, target in entries(app)] == ["neu"]


def test_the_cli_records_imports_exports_and_token_changes(app, runner, make_editor, tmp_path):
    make_editor()
    path = tmp_path / "liste.csv"
    path.write_text("email,name,topics,status,confirmed_at,consent_source\n"
                    "neu@example.org,,it,pending,,\n", encoding="utf-8")
    for args in (["subscribers", "import", str(path)], ["subscribers", "export"],
                 ["editor", "token", "redaktion@owl-morgen.de"],
                 ["editor", "revoke", "redaktion@owl-morgen.de"],
                 ["editor", "totp", "redaktion@owl-morgen.de"]):
        assert runner.invoke(args=args).exit_code == 0
    assert [(actor, action) for actor, action, _t in entries(app)] == [
        ("cli", "subscribers.import"), ("cli", "subscribers.export"), ("cli", "token.created"),
        ("cli", "token.revoked"), ("cli", "totp.on")]
