"""Campaign services: what editors may write, and the state machine
draft → scheduled → sending ⇄ paused → sent / cancelled."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from owlmail.campaigns import services
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.campaigns.services import CampaignError
from owlmail.delivery.testsend import send_test
from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.outbox.services import drain_outbox
from owlmail.timeutil import utcnow

S = CampaignStatus


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def new_campaign(**overrides) -> Campaign:
    data = {"subject": "Neues aus OWL", "body": "Hallo {{ name }},\n\n**Neuigkeiten**.",
            "topics": ["it"]}
    campaign = services.create_campaign(None, **{**data, **overrides})
    db.session.flush()
    return campaign


def in_state(status: CampaignStatus) -> Campaign:
    """A campaign brought into a state the way the services (and the engine) do it."""
    campaign = new_campaign()
    if status == S.DRAFT:
        return campaign
    services.schedule(campaign, None)
    if status == S.SCHEDULED:
        return campaign
    if status == S.CANCELLED:
        services.cancel(campaign)
        return campaign
    services.start_sending(campaign)
    if status == S.PAUSED:
        services.pause(campaign)
    elif status == S.SENT:
        services.finish(campaign)
    return campaign


# --- content ---------------------------------------------------------------

def test_a_new_campaign_is_a_draft_with_its_topics(ctx):
    campaign = new_campaign(topics=["it", "bildung", "it"], template="digitalgipfel")
    assert campaign.status == S.DRAFT
    assert [t.slug for t in campaign.topics] == ["it", "bildung"]
    assert campaign.template == "digitalgipfel"


def test_no_topics_means_every_topic_and_the_standard_template(ctx):
    campaign = new_campaign(topics=[], template=None)
    assert campaign.topics == []
    assert campaign.template == "standard"


@pytest.mark.parametrize(("subject", "fragment"), [
    ("", "Betreff an"),
    ("   ", "Betreff an"),
    ("Zeile eins\r\nBcc: opfer@example.org", "einzelne Zeile"),
    ("Zeile\neins", "einzelne Zeile"),
    ("x" * 201, "höchstens 200"),
    (42, "Text"),
    ("Hallo {{ name }}", "keine Platzhalter"),
    ("{% if name %}Hallo{% endif %}", "keine Platzhalter"),
])
def test_a_bad_subject_is_refused_with_a_german_reason(ctx, subject, fragment):
    with pytest.raises(CampaignError) as caught:
        new_campaign(subject=subject)
    assert caught.value.status == 422
    assert fragment in caught.value.message


def test_a_subject_of_exactly_200_characters_with_umlauts_is_fine(ctx):
    subject = ("Grüße aus Bielefeld – " * 10)[:200]
    assert new_campaign(subject=subject).subject == subject.strip()


def test_an_oversized_body_is_refused_with_413(ctx):
    limit = ctx.config["CAMPAIGN_BODY_MAX_LENGTH"]
    with pytest.raises(CampaignError) as caught:
        new_campaign(body="a" * (limit + 1))
    assert caught.value.status == 413


def test_unknown_topics_and_templates_are_named_in_the_refusal(ctx):
    with pytest.raises(CampaignError) as caught:
        new_campaign(topics=["it", "raumfahrt"])
    assert caught.value.status == 422 and "raumfahrt" in caught.value.message
    with pytest.raises(CampaignError) as caught:
        new_campaign(template="bunt")
    assert caught.value.status == 422 and "bunt" in caught.value.message


def test_nothing_is_stored_when_a_campaign_is_refused(ctx):
    with pytest.raises(CampaignError):
        new_campaign(subject="a\r\nb")
    db.session.rollback()
    assert db.session.scalars(select(Campaign)).all() == []


def test_drafts_and_scheduled_campaigns_can_be_changed(ctx):
    campaign = new_campaign()
    services.update_campaign(campaign, subject="Neu", topics=[], body="Text")
    assert (campaign.subject, campaign.topics, campaign.body) == ("Neu", [], "Text")
    services.schedule(campaign, None)
    services.update_campaign(campaign, preheader="Kurz gesagt")
    assert campaign.preheader == "Kurz gesagt" and campaign.status == S.SCHEDULED


@pytest.mark.parametrize("status", [S.SENDING, S.PAUSED, S.SENT, S.CANCELLED])
def test_a_campaign_that_has_left_planning_cannot_be_changed(ctx, status):
    campaign = in_state(status)
    with pytest.raises(CampaignError) as caught:
        services.update_campaign(campaign, subject="Zu spät")
    assert caught.value.status == 409
    assert campaign.subject == "Neues aus OWL"


def test_an_update_with_unknown_fields_is_refused(ctx):
    with pytest.raises(CampaignError) as caught:
        services.update_campaign(new_campaign(), status="sent")
    assert caught.value.status == 422 and "status" in caught.value.message


def test_duplicating_gives_a_new_draft_named_as_copy(ctx):
    original = in_state(S.SENT)
    copy = services.duplicate(original, None)
    db.session.flush()
    assert copy.id != original.id and copy.status == S.DRAFT
    assert copy.subject == "Kopie von Neues aus OWL"
    assert copy.body == original.body and copy.topics == original.topics


# --- the state machine -----------------------------------------------------

def test_scheduling_without_a_time_means_now(ctx):
    campaign = new_campaign()
    services.schedule(campaign, None)
    assert campaign.status == S.SCHEDULED
    assert abs(campaign.send_at - utcnow()) < timedelta(seconds=5)


def test_a_send_time_with_offset_is_stored_as_utc(ctx):
    campaign = new_campaign()
    berlin_winter = timezone(timedelta(hours=1))
    when = datetime.now(UTC).astimezone(berlin_winter).replace(microsecond=0) + timedelta(days=2)
    services.schedule(campaign, when)
    assert campaign.send_at == when.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(("when", "fragment"), [
    (datetime(2030, 1, 1, 9, 0), "Zeitzone"),
    (datetime.now(UTC) - timedelta(hours=1), "Vergangenheit"),
])
def test_a_send_time_without_offset_or_in_the_past_is_refused(ctx, when, fragment):
    campaign = new_campaign()
    with pytest.raises(CampaignError) as caught:
        services.schedule(campaign, when)
    assert caught.value.status == 422 and fragment in caught.value.message
    assert campaign.status == S.DRAFT


LEGAL = {
    "schedule": {S.DRAFT: S.SCHEDULED, S.SCHEDULED: S.SCHEDULED},
    "pause": {S.SCHEDULED: S.PAUSED, S.SENDING: S.PAUSED},
    "resume": {S.PAUSED: S.SENDING},  # in_state(PAUSED) had started sending
    "cancel": {S.DRAFT: S.CANCELLED, S.SCHEDULED: S.CANCELLED, S.PAUSED: S.CANCELLED,
               S.SENDING: S.CANCELLED},
}
CALLS = {
    "schedule": lambda c: services.schedule(c, None),
    "pause": services.pause,
    "resume": services.resume,
    "cancel": services.cancel,
}


@pytest.mark.parametrize("action", list(CALLS))
@pytest.mark.parametrize("status", list(S))
def test_every_transition_is_allowed_or_refused_with_409(ctx, action, status):
    campaign = in_state(status)
    target = LEGAL[action].get(status)
    if target is None:
        with pytest.raises(CampaignError) as caught:
            CALLS[action](campaign)
        assert caught.value.status == 409
        assert campaign.status == status
    else:
        CALLS[action](campaign)
        assert campaign.status == target


def test_a_paused_campaign_that_never_started_returns_to_scheduled(ctx):
    campaign = in_state(S.SCHEDULED)
    services.pause(campaign)
    services.resume(campaign)
    assert campaign.status == S.SCHEDULED


def test_a_paused_campaign_that_was_sending_continues_sending(ctx):
    campaign = in_state(S.SENDING)
    started = campaign.started_at
    services.pause(campaign, note="Zu viele Fehler")
    assert campaign.status_note == "Zu viele Fehler"
    services.resume(campaign)
    assert campaign.status == S.SENDING and campaign.started_at == started
    assert campaign.status_note == ""


def test_the_refusal_names_the_current_state_in_german(ctx):
    with pytest.raises(CampaignError) as caught:
        services.pause(in_state(S.SENT))
    assert "versendet" in caught.value.message


# --- test sends ------------------------------------------------------------

def test_a_test_copy_arrives_marked_as_test(smtp_app, smtp):
    with smtp_app.app_context():
        campaign = new_campaign(subject="Digitalgipfel OWL: Programm")
        sent_to = send_test(campaign, ["Test@Example.org", "redaktion@bücher.de"])
        db.session.commit()
        drain_outbox()
    assert sent_to == ["Test@example.org", "redaktion@bücher.de"]
    mail = smtp.messages_to("Test@example.org")[0]
    assert mail["Subject"] == "[TEST] Digitalgipfel OWL: Programm"
    assert mail["List-Unsubscribe"] == "<http://owlmail.test/>"
    assert mail.get_content_type() == "multipart/alternative"
    assert "Erika Mustermann" in mail.get_body(("plain",)).get_content()
    assert smtp.messages_to("redaktion@xn--bcher-kva.de"), "IDN domain sent in ASCII form"


@pytest.mark.parametrize(("emails", "fragment"), [
    ([], "mindestens eine"),
    ("a@example.org", "mindestens eine"),
    ([f"t{i}@example.org" for i in range(6)], "höchstens 5"),
    (["gut@example.org", "kein-at-zeichen"], "kein-at-zeichen"),
    (["müller@example.org"], "Umlauten"),
    (["a@example.org\r\nBcc: x@example.org"], "gültige"),
    ([None], "gültige"),
])
def test_bad_test_recipients_are_refused_and_nothing_is_queued(ctx, emails, fragment):
    campaign = new_campaign()
    with pytest.raises(CampaignError) as caught:
        send_test(campaign, emails)
    assert caught.value.status == 422 and fragment in caught.value.message
    assert db.session.scalars(select(OutboxMail)).all() == []


def test_the_same_address_twice_gets_one_test_copy(ctx):
    send_test(new_campaign(), ["a@example.org", "A@EXAMPLE.ORG"])
    assert len(db.session.scalars(select(OutboxMail)).all()) == 1
