"""The API against its own OpenAPI document: generated requests, valid and invalid, never
get a 5xx, and every answer matches the schema the document promises."""

from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from owlmail.auth.models import Role
from owlmail.auth.services import create_editor, issue_api_token
from owlmail.campaigns import services as campaigns
from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus

pytestmark = pytest.mark.slow


def seed(app) -> str:
    """Campaigns and subscribers with ids 1, 2, 3… so generated ids hit real rows."""
    with app.app_context():
        admin = create_editor("chefin@owl-morgen.de", "richtig-langes-passwort", Role.ADMIN)
        token = issue_api_token(admin, "schemathesis")
        for number in range(1, 4):
            campaign = campaigns.create_campaign(admin, subject=f"Ausgabe {number}",
                                                 body="Hallo {{ name }}!", topics=["it"])
            if number == 2:
                campaigns.schedule(campaign, datetime.now(UTC) + timedelta(days=1))
            subscriber = Subscriber(email=f"person{number}@example.org",
                                    email_key=f"person{number}@example.org",
                                    status=SubscriberStatus.CONFIRMED)
            subscriber.consent_events.append(ConsentEvent(action="requested"))
            db.session.add(subscriber)
        db.session.commit()
        return token


# Every operation of the document; the last test fails when one is added or goes missing.
OPERATIONS = [
    "GET /api/v1/topics",
    "GET /api/v1/campaigns",
    "POST /api/v1/campaigns",
    "GET /api/v1/campaigns/{campaign_id}",
    "GET /api/v1/campaigns/{campaign_id}/report",
    "PATCH /api/v1/campaigns/{campaign_id}",
    "POST /api/v1/campaigns/{campaign_id}/test",
    "POST /api/v1/campaigns/{campaign_id}/schedule",
    "POST /api/v1/campaigns/{campaign_id}/pause",
    "POST /api/v1/campaigns/{campaign_id}/resume",
    "POST /api/v1/campaigns/{campaign_id}/cancel",
    "GET /api/v1/subscribers",
    "GET /api/v1/subscribers/{subscriber_id}",
    "DELETE /api/v1/subscribers/{subscriber_id}",
    "GET /api/v1/audit",
]


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_keeps_its_documented_promises(app, label):
    token = seed(app)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is missing from the OpenAPI document"
    # Valid requests and deliberately invalid ones: both must get a documented answer.
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    # Generated ids seldom name a row; pin them to the seeded ones for a share of cases.
    for parameter in operation.path_parameters:
        strategies += [operation.as_strategy(mode, path_parameters={parameter.name: row_id})
                       for row_id in (1, 2, 3) for mode in GenerationMode]
    cases = st.one_of(strategies)

    @given(cases)
    @settings(max_examples=25, deadline=timedelta(seconds=2), database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                               checks=[not_a_server_error, response_schema_conformance])

    check()


def test_the_list_above_covers_every_documented_operation(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == set(OPERATIONS)
