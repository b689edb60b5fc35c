"""Segments: a campaign for universities in Paderborn and Lippe reaches exactly the
confirmed subscribers of its topics whose answers match every field of the segment
(runs on SQLite and, with OWLMAIL_TEST_DATABASE_URI, on PostgreSQL)."""

import itertools
import re

import pytest
from sqlalchemy import insert, select

from owlmail.campaigns.models import Campaign
from owlmail.campaigns.segments import clean_segment, count_audience, segment_of, set_segment
from owlmail.delivery.models import Delivery
from owlmail.delivery.services import fix_audience
from owlmail.extensions import db
from owlmail.subscriptions.fields.models import FieldValue
from owlmail.subscriptions.fields.services import field_by_key
from owlmail.subscriptions.models import SubscriberStatus, Topic
from tests.support.campaigns import add_campaign, add_subscribers
from tests.support.pages import hidden_fields
from tests.test_api import Api, assert_error, make_token

ORGANISATIONS = ["hochschule", "unternehmen", None]
KREISE = ["paderborn", "lippe", "bielefeld", None]
SEGMENT = {"organisation": ["hochschule"], "kreis": ["paderborn", "lippe"]}


def give(subscriber_id: int, **answers) -> None:
    fields = field_by_key()
    rows = [{"subscriber_id": subscriber_id, "field_id": fields[key].id, "value": value}
            for key, value in answers.items() if value]
    if rows:
        db.session.execute(insert(FieldValue), rows)


@pytest.fixture
def population(app):
    """Every mix of organisation, district, topic and status: {id: (org, kreis, topic, status)}."""
    people = {}
    with app.app_context():
        mixes = itertools.product(ORGANISATIONS, KREISE, ["it", "bildung"],
                                  [SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING])
        for number, (org, kreis, topic, status) in enumerate(mixes):
            [sid] = add_subscribers(1, topics=[topic], status=status, prefix=f"p{number}-")
            give(sid, organisation=org, kreis=kreis)
            people[sid] = (org, kreis, topic, status)
        db.session.commit()
    return people


def expected(people, topics, segment) -> set[int]:
    return {sid for sid, (org, kreis, topic, status) in people.items()
            if status == SubscriberStatus.CONFIRMED and (not topics or topic in topics)
            and (not segment.get("organisation") or org in segment["organisation"])
            and (not segment.get("kreis") or kreis in segment["kreis"])}


@pytest.mark.parametrize(("topics", "segment"), [
    (["it"], SEGMENT),
    ([], SEGMENT),
    ([], {"kreis": ["bielefeld"]}),
    (["bildung"], {}),
    ([], {"organisation": [], "kreis": ["lippe"]}),
])
def test_the_audience_is_exactly_topics_and_every_segment_field(app, population, topics,
                                                                 segment):
    with app.app_context():
        campaign_id = add_campaign(topics=topics)
        set_segment(campaign_id, clean_segment(segment))
        db.session.commit()
        wanted = expected(population, topics, segment)
        topic_ids = db.session.scalars(select(Topic.id).where(Topic.slug.in_(topics))).all()
        assert count_audience(topic_ids, clean_segment(segment)) == len(wanted)
        assert fix_audience(db.session.get(Campaign, campaign_id)) == len(wanted)
        reached = set(db.session.scalars(select(Delivery.subscriber_id).where(
            Delivery.campaign_id == campaign_id)))
    assert reached == wanted
    assert wanted  # each case reaches someone: an empty result would prove nothing


def test_the_api_takes_a_segment_and_shows_it(app):
    api = Api(app.test_client(), make_token(app))
    created = api.post("/campaigns", json={"subject": "Hochschulen in OWL", "body": "Hallo",
                                           "segment": SEGMENT})
    assert created.status_code == 201, created.text
    assert created.json["segment"] == {"organisation": ["hochschule"],
                                       "kreis": ["lippe", "paderborn"]}
    changed = api.patch(f"/campaigns/{created.json['id']}", json={"segment": {}})
    assert changed.json["segment"] == {}
    plain = api.post("/campaigns", json={"subject": "Alle", "body": "Hallo"})
    assert plain.json["segment"] == {}


@pytest.mark.parametrize(("segment", "named"), [
    ({"branche": ["it"]}, "branche"),
    ({"kreis": ["paderborn", "mars"]}, "mars"),
    ({"kreis": "paderborn"}, "kreis"),
    (["kreis"], "Objekt"),
])
def test_the_api_refuses_an_unknown_field_or_value_naming_it(app, segment, named):
    api = Api(app.test_client(), make_token(app))
    response = api.post("/campaigns", json={"subject": "X", "body": "Hallo",
                                            "segment": segment})
    assert_error(response, 422, "invalid_segment", named)
    with app.app_context():
        assert db.session.scalar(select(Campaign.id)) is None


# --- the campaign editor ------------------------------------------------------------

def editor_post(client, page: str, action: str, data: dict):
    token = hidden_fields(client.get(page).data)["csrf_token"]
    return client.post(action, data={"csrf_token": token, **data})


def test_the_editor_aims_a_campaign_at_a_segment_and_sees_it_ticked(app, editor_client,
                                                                   population):
    response = editor_post(editor_client, "/admin/campaigns/new", "/admin/campaigns/new", {
        "subject": "Hochschulen", "body": "Hallo", "template": "standard", "topics": ["it"],
        "segment_organisation": ["hochschule"], "segment_kreis": ["paderborn", "lippe"]})
    assert response.status_code == 303, response.text
    page = editor_client.get(response.location).text
    ticked = re.findall(r'<input checked [^>]*name="(segment_\w+)" type="checkbox" '
                        r'value="([\w-]+)"', page)
    assert sorted(ticked) == [("segment_kreis", "lippe"), ("segment_kreis", "paderborn"),
                              ("segment_organisation", "hochschule")]
    wanted = len(expected(population, ["it"], SEGMENT))
    assert f"Erreicht derzeit {wanted} bestätigte Personen." in page
    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id))
        assert segment_of(campaign_id) == {"organisation": ["hochschule"],
                                           "kreis": ["lippe", "paderborn"]}


def test_the_count_follows_the_ticks_before_saving(editor_client, population):
    response = editor_post(editor_client, "/admin/campaigns/new", "/admin/campaigns/audience", {
        "topics": ["bildung"], "segment_kreis": ["bielefeld"]})
    wanted = len(expected(population, ["bildung"], {"kreis": ["bielefeld"]}))
    assert response.json == {"recipients": wanted, "text": f"Erreicht derzeit {wanted} "
                                                          "bestätigte Personen."}
    refused = editor_post(editor_client, "/admin/campaigns/new", "/admin/campaigns/audience",
                          {"segment_kreis": ["mars"]})
    assert refused.status_code == 422
    assert "mars" in refused.json["error"]["message"]


def test_a_duplicate_keeps_the_segment(app, editor_client):
    response = editor_post(editor_client, "/admin/campaigns/new", "/admin/campaigns/new", {
        "subject": "Kreis Lippe", "body": "Hallo", "template": "standard",
        "segment_kreis": ["lippe"]})
    original = int(response.location.rsplit("/", 1)[1])
    page = f"/admin/campaigns/{original}"
    copied = editor_post(editor_client, page, f"{page}/duplicate", {})
    assert copied.status_code == 303
    with app.app_context():
        copy_id = db.session.scalar(select(Campaign.id).where(Campaign.id != original))
        assert segment_of(copy_id) == {"kreis": ["lippe"]}
