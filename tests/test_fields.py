"""Subscriber fields: a person says which kind of organisation and which district they are
from; it is kept with proof, shown to editors, changed by the person, erased with them."""

import csv
import io
import json

import pytest
from sqlalchemy import func, select

from owlmail.extensions import db
from owlmail.subscriptions.fields.models import FieldValue
from owlmail.subscriptions.fields.services import field_by_key, values_of
from owlmail.subscriptions.models import ConsentEvent, Subscriber
from owlmail.subscriptions.services import preferences_url
from tests.conftest import log_in
from tests.support.pages import hidden_fields
from tests.test_api import Api, make_token


def sign_up(browser_form, email="ina@example.org", **extra):
    data = {"email": email, "topics": ["it"], "consent": "y", **extra}
    return browser_form.submit("/", data, action="/subscribe")


def subscriber_id(app, email="ina@example.org") -> int:
    with app.app_context():
        return db.session.scalar(select(Subscriber.id).where(Subscriber.email == email))


def test_the_sign_up_form_offers_organisation_and_district_optionally(client):
    page = client.get("/").text
    assert '<select class="input" id="organisation" name="organisation">' in page
    assert '<option value="hochschule">Hochschule und Forschung</option>' in page
    assert '<option value="paderborn">Kreis Paderborn</option>' in page
    english = client.get("/?lang=en").text
    assert '<option value="hochschule">University and research</option>' in english
    assert ">District</label>" in english


def test_what_a_person_gives_is_stored_and_logged_as_given(app, browser_form):
    response = sign_up(browser_form, organisation="hochschule", kreis="lippe")
    assert response.status_code == 200
    with app.app_context():
        sid = subscriber_id(app)
        assert values_of(sid) == {"organisation": "hochschule", "kreis": "lippe"}
        event = db.session.scalar(select(ConsentEvent).where(
            ConsentEvent.subscriber_id == sid, ConsentEvent.action == "fields"))
        assert json.loads(event.detail) == {"fields": {"organisation": "hochschule",
                                                       "kreis": "lippe"}}
        assert event.source_url


def test_a_value_the_field_does_not_offer_gets_a_clear_400(app, browser_form):
    response = sign_up(browser_form, organisation="geheimdienst")
    assert response.status_code == 400
    assert "Bitte wählen Sie einen der angebotenen Werte." in response.text
    assert subscriber_id(app) is None


def test_leaving_the_fields_empty_is_fine(app, browser_form):
    assert sign_up(browser_form, organisation="", kreis="").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FieldValue)) == 0


def test_a_new_sign_up_cannot_change_a_confirmed_persons_answers(app, browser_form):
    sign_up(browser_form, organisation="unternehmen")
    with app.app_context():
        person = db.session.get(Subscriber, subscriber_id(app))
        person.status = "confirmed"
        db.session.commit()
    sign_up(browser_form, organisation="privat")
    with app.app_context():
        assert values_of(subscriber_id(app)) == {"organisation": "unternehmen"}


def preferences_path(app, sid: int) -> str:
    with app.test_request_context():
        return preferences_url(db.session.get(Subscriber, sid)).removeprefix(
            "http://owlmail.test")


def test_the_person_changes_their_answers_on_the_preferences_page(app, client, browser_form):
    sign_up(browser_form, organisation="unternehmen", kreis="herford")
    path = preferences_path(app, subscriber_id(app))
    page = client.get(path).text
    assert '<option selected value="unternehmen">' in page
    token = hidden_fields(page)["csrf_token"]
    response = client.post(path, data={"csrf_token": token, "topics": ["it"],
                                       "organisation": "verband", "kreis": ""})
    assert response.status_code == 303
    with app.app_context():
        sid = subscriber_id(app)
        assert values_of(sid) == {"organisation": "verband"}
        actions = db.session.scalars(select(ConsentEvent.action).where(
            ConsentEvent.subscriber_id == sid).order_by(ConsentEvent.id)).all()
    assert actions == ["requested", "fields", "preferences", "fields"]


def test_editors_see_the_answers_on_the_subscriber_page(app, browser_form, make_editor):
    sign_up(browser_form, organisation="verwaltung", kreis="minden-luebbecke")
    client = app.test_client()
    log_in(client, make_editor())
    page = client.get(f"/admin/subscribers/{subscriber_id(app)}").text
    assert "<dt>Organisation</dt><dd>Kommune und Verwaltung</dd>" in page
    assert "<dt>Kreis</dt><dd>Kreis Minden-Lübbecke</dd>" in page


def test_the_api_item_carries_the_fields(app, browser_form):
    sign_up(browser_form, organisation="hochschule", kreis="paderborn")
    sign_up(browser_form, email="otto@example.org")
    api = Api(app.test_client(), make_token(app))
    items = {item["email"]: item for item in api.get("/subscribers").json["items"]}
    assert items["ina@example.org"]["fields"] == {"organisation": "hochschule",
                                                  "kreis": "paderborn"}
    assert items["otto@example.org"]["fields"] == {}
    detail = api.get(f"/subscribers/{subscriber_id(app)}").json
    assert detail["fields"] == {"organisation": "hochschule", "kreis": "paderborn"}


def test_erasing_a_person_erases_their_answers(app, browser_form):
    sign_up(browser_form, organisation="privat", kreis="bielefeld")
    api = Api(app.test_client(), make_token(app, "chefin@owl-morgen.de", "admin"))
    assert api.delete(f"/subscribers/{subscriber_id(app)}").status_code == 204
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FieldValue)) == 0


# --- CSV ---------------------------------------------------------------------------

def test_the_fields_travel_through_export_and_import_as_their_own_columns(app, browser_form,
                                                                          runner, tmp_path):
    sign_up(browser_form, organisation="verband", kreis="hoexter")
    exported = runner.invoke(args=["subscribers", "export"]).output
    header, row = list(csv.reader(io.StringIO(exported)))[:2]
    assert header[-3:] == ["consent_history", "organisation", "kreis"]
    assert row[-2:] == ["verband", "hoexter"]

    again = exported.replace("ina@example.org", "ina.neu@example.org")
    path = tmp_path / "liste.csv"
    path.write_text(again, encoding="utf-8")
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert values_of(subscriber_id(app, "ina.neu@example.org")) == {
            "organisation": "verband", "kreis": "hoexter"}
        imported = db.session.scalar(select(ConsentEvent.detail).where(
            ConsentEvent.action == "imported"))
    assert json.loads(imported)["fields"] == {"organisation": "verband", "kreis": "hoexter"}


def test_an_import_row_with_an_unknown_value_is_reported_and_skipped(app, runner, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text("email,kreis\nok@example.org,lippe\nnein@example.org,atlantis\n",
                    encoding="utf-8")
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert "3" in result.output and "atlantis" in result.output
    assert subscriber_id(app, "nein@example.org") is None
    with app.app_context():
        assert values_of(subscriber_id(app, "ok@example.org")) == {"kreis": "lippe"}


# --- admins define fields ------------------------------------------------------------

def admin_post(client, path: str, data: dict):
    token = hidden_fields(client.get(path).data)["csrf_token"]
    return client.post(path, data={"csrf_token": token, **data})


def test_an_admin_adds_a_required_text_field_and_the_form_asks_for_it(app, admin_client,
                                                                      browser_form):
    response = admin_post(admin_client, "/admin/fields", {
        "key": "funktion", "kind": "text", "label_de": "Ihre Funktion",
        "label_en": "Your role", "required": "y", "on_form": "y"})
    assert response.status_code == 303, response.text
    assert 'name="funktion"' in browser_form.client.get("/").text
    assert "Your role" in app.test_client().get("/?lang=en").text
    refused = sign_up(browser_form, email="ohne@example.org", funktion="")
    assert refused.status_code == 400
    assert "Bitte füllen Sie dieses Feld aus." in refused.text
    assert sign_up(browser_form, funktion="Dekanin").status_code == 200
    with app.app_context():
        assert values_of(subscriber_id(app)) == {"funktion": "Dekanin"}


@pytest.mark.parametrize(("data", "message"), [
    ({"key": "email", "kind": "text"}, "schon vergeben"),
    ({"key": "kreis", "kind": "text"}, "gibt es schon"),
    ({"key": "Gross Buchstaben", "kind": "text"}, "Kleinbuchstaben"),
    ({"key": "branche", "kind": "choice", "options": ""}, "mindestens einen Wert"),
    ({"key": "branche", "kind": "choice", "options": "IT Branche"}, "Zeile 1"),
])
def test_a_field_that_cannot_work_is_refused_with_a_reason(admin_client, data, message):
    response = admin_post(admin_client, "/admin/fields", {"label_de": "X", **data})
    assert response.status_code == 400
    assert message in response.text


def test_an_admin_adds_a_choice_but_cannot_remove_one_people_gave(app, admin_client,
                                                                   browser_form):
    sign_up(browser_form, kreis="lippe")
    with app.app_context():
        kreis = field_by_key()["kreis"]
    path = f"/admin/fields/{kreis.id}"
    lines = "\n".join(f"{value} | {de} | {en}" for value, de, en in kreis.options
                      if value != "lippe")
    refused = admin_post(admin_client, path, {"label_de": "Kreis", "options": lines,
                                              "on_form": "y"})
    assert refused.status_code == 400 and "„lippe“" in refused.text
    more = lines + "\nlippe | Kreis Lippe\nemsland | Emsland | Emsland"
    assert admin_post(admin_client, path, {"label_de": "Kreis", "options": more,
                                           "on_form": "y"}).status_code == 303
    assert '<option value="emsland">Emsland</option>' in browser_form.client.get("/").text


def test_a_field_not_on_the_form_is_not_asked(admin_client, client):
    admin_post(admin_client, "/admin/fields", {"key": "intern", "kind": "text",
                                               "label_de": "Interne Notiz"})
    assert 'name="intern"' not in client.get("/").text


def test_editors_cannot_define_fields(editor_client):
    assert editor_client.get("/admin/fields").status_code == 403


def test_the_dashboard_counts_confirmed_subscribers_per_organisation_and_district(
        app, browser_form, make_editor):
    for number, (org, kreis) in enumerate([("hochschule", "lippe"), ("hochschule", ""),
                                           ("privat", "lippe"), ("unternehmen", "herford")]):
        sign_up(browser_form, email=f"p{number}@example.org", organisation=org, kreis=kreis)
    with app.app_context():
        for person in db.session.scalars(select(Subscriber)):
            person.status = "confirmed" if person.email != "p3@example.org" else "pending"
        db.session.commit()
    client = app.test_client()
    log_in(client, make_editor())
    page = " ".join(client.get("/admin/").text.split())
    assert "Bestätigte Abonnenten je „Organisation“" in page
    assert '<td>Hochschule und Forschung</td><td class="num">2</td>' in page
    assert '<td>Unternehmen</td><td class="num">0</td>' in page  # pending does not count
    assert '<td>Kreis Lippe</td><td class="num">2</td>' in page
    assert '<td>keine Angabe</td><td class="num">1</td>' in page  # p1 gave no district
