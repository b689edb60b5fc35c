"""Campaign state machine: draft → scheduled → sending ⇄ paused → sent / cancelled.

INTERFACE (used by the editor pages, the JSON API and the delivery engine). Services
never commit; they raise CampaignError (message in German, shown as 4xx).

    create_campaign(editor, subject=..., body=..., topics=[Topic or slug], template=None,
                    preheader="") -> Campaign
    update_campaign(campaign, **changes) -> Campaign        # draft / scheduled only
    validate_body(body) -> None                             # raises CampaignError naming
                                                            # a refused expression
    schedule(campaign, send_at: datetime | None) -> None    # aware datetime, None = now
    pause(campaign), resume(campaign), cancel(campaign), duplicate(campaign, editor)
    clean_test_recipients(emails) -> list[str]              # for delivery's test send
    For the delivery engine: start_sending(campaign, fix_audience), finish(campaign),
    pause_for_failures(campaign, failures, last_answer), pause_unrenderable(campaign, error)

Topics: an empty list means "every topic". Status codes: 409 for a transition the
current state forbids, 422 for invalid content, 413 for an oversized body.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..addresses import InvalidAddress, ascii_address, normalize_address
from ..auth.models import Editor
from ..extensions import db
from ..mail.mime import format_address
from ..outbox.message import build_message, queue_mail, render_mail
from ..subscriptions.models import Topic
from ..text import is_single_line
from ..timeutil import to_utc_naive, utcnow
from . import archive
from .errors import CampaignError
from .models import Campaign, CampaignStatus
from .rendering import TEMPLATES, validate_body

log = logging.getLogger(__name__)

SUBJECT_MAX_LENGTH = 200
PREHEADER_MAX_LENGTH = 200
TEST_RECIPIENTS_MAX = 5
EDITABLE_FIELDS = {"subject", "preheader", "body", "topics", "template"}
# A send time a few seconds in the past is "now" that took a while to arrive.
SCHEDULE_GRACE = timedelta(seconds=60)

S = CampaignStatus


def _require(campaign: Campaign, allowed: Iterable[CampaignStatus], action: str) -> None:
    """CampaignError (409) unless the campaign is in one of the allowed states."""
    if campaign.status not in set(allowed):
        raise CampaignError.wrong_state(campaign, action)


# --- content ---------------------------------------------------------------

def clean_line(value: object, label: str, max_length: int, required: str | None = None) -> str:
    """A single-line text field: no CR/LF or other control characters, bounded length."""
    if not isinstance(value, str):
        raise CampaignError.invalid(_("%(label)s muss ein Text sein.", label=label))
    if not is_single_line(value):
        raise CampaignError.invalid(
            _("%(label)s muss eine einzelne Zeile ohne Steuerzeichen sein.", label=label))
    value = value.strip()
    if "{{" in value or "{%" in value:  # would go out literally: personal fields are body-only
        raise CampaignError.invalid(_(
            "%(label)s kann keine Platzhalter enthalten; persönliche Felder wie den Namen "
            "gibt es nur im Text der Kampagne.", label=label))
    if required and not value:
        raise CampaignError.invalid(required)
    if len(value) > max_length:
        raise CampaignError.invalid(_("%(label)s darf höchstens %(max)d Zeichen lang sein.",
                                      label=label, max=max_length))
    return value


def clean_subject(subject: object) -> str:
    """The subject: required, one line, at most 200 characters."""
    return clean_line(subject, _("Der Betreff"), SUBJECT_MAX_LENGTH,
                      required=_("Bitte geben Sie einen Betreff an."))


def clean_template(template: object) -> str:
    """One of the known layouts; None means the standard one."""
    if template is None or template == "":
        return "standard"
    if template not in TEMPLATES:
        raise CampaignError.invalid(
            _("Unbekannte Vorlage „%(name)s“. Möglich sind: %(names)s.",
              name=str(template)[:40], names=", ".join(TEMPLATES)), "invalid_template")
    return str(template)


def resolve_topics(topics: Iterable[Topic | str] | None) -> list[Topic]:
    """Topics given as Topic objects or slugs; unknown slugs are refused (422)."""
    topics = list(topics or [])
    slugs = [t for t in topics if not isinstance(t, Topic)]
    if any(not isinstance(slug, str) for slug in slugs):
        raise CampaignError.invalid(_("Themen werden als Kürzel (Text) angegeben."))
    # Only plausible slugs reach the query (a NUL byte would upset PostgreSQL).
    plausible = [slug for slug in slugs if len(slug) <= 64 and slug.isprintable()]
    query = select(Topic).where(Topic.slug.in_(plausible))
    found = {t.slug: t for t in db.session.scalars(query)} if plausible else {}
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise CampaignError.invalid(
            _("Unbekanntes Thema: %(slugs)s.",
              slugs=", ".join(repr(s[:64])[1:-1] for s in unknown[:5])),
            "invalid_topic")
    result: list[Topic] = []
    for item in topics:
        topic = item if isinstance(item, Topic) else found[item]
        if topic not in result:
            result.append(topic)
    return result


# --- creating and editing --------------------------------------------------

def create_campaign(
    editor: Editor | None,
    *,
    subject: str,
    body: str,
    topics: Iterable[Topic | str] | None = None,
    template: str | None = None,
    preheader: str = "",
) -> Campaign:
    """A new draft; validated like every later change (not committed)."""
    validate_body(body)
    campaign = Campaign(
        subject=clean_subject(subject),
        preheader=clean_line(preheader or "", _("Der Vorschautext"), PREHEADER_MAX_LENGTH),
        body=body,
        template=clean_template(template),
        topics=resolve_topics(topics),
        status=S.DRAFT,
        created_by_id=editor.id if editor else None,
    )
    db.session.add(campaign)
    return campaign


def update_campaign(campaign: Campaign, **changes) -> Campaign:
    """Change content of a draft or scheduled campaign; only the given fields change."""
    _require(campaign, (S.DRAFT, S.SCHEDULED), _("bearbeitet"))
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise CampaignError.invalid(_("Unbekanntes Feld: %(names)s.",
                                      names=", ".join(sorted(unknown))))
    if "subject" in changes:
        campaign.subject = clean_subject(changes["subject"])
    if "preheader" in changes:
        campaign.preheader = clean_line(changes["preheader"] or "", _("Der Vorschautext"),
                                        PREHEADER_MAX_LENGTH)
    if "body" in changes:
        validate_body(changes["body"])
        campaign.body = changes["body"]
    if "template" in changes:
        campaign.template = clean_template(changes["template"])
    if "topics" in changes:
        campaign.topics = resolve_topics(changes["topics"])
    campaign.updated_at = utcnow()
    return campaign


def duplicate(campaign: Campaign, editor: Editor | None) -> Campaign:
    """A new draft with the same content, subject "Kopie von …"."""
    subject = _("Kopie von %(subject)s", subject=campaign.subject)[:SUBJECT_MAX_LENGTH]
    copy = Campaign(
        subject=subject, preheader=campaign.preheader, body=campaign.body,
        template=campaign.template, topics=list(campaign.topics), status=S.DRAFT,
        created_by_id=editor.id if editor else campaign.created_by_id,
    )
    db.session.add(copy)
    return copy


# --- transitions -----------------------------------------------------------

def schedule(campaign: Campaign, send_at: datetime | None) -> None:
    """Draft (or scheduled) → scheduled for send_at (aware), or for now when None."""
    _require(campaign, (S.DRAFT, S.SCHEDULED), _("geplant"))
    now = utcnow()
    if send_at is None:
        when = now
    else:
        if send_at.tzinfo is None or send_at.utcoffset() is None:
            raise CampaignError.invalid(
                _("Der Versandzeitpunkt braucht eine Zeitzone (z. B. +01:00)."), "invalid_time")
        when = to_utc_naive(send_at)
        if when < now - SCHEDULE_GRACE:
            raise CampaignError.invalid(
                _("Der Versandzeitpunkt liegt in der Vergangenheit."), "time_in_past")
    validate_body(campaign.body)
    campaign.send_at = when
    campaign.status = S.SCHEDULED
    campaign.status_note = ""


def start_sending(campaign: Campaign,
                  fix_audience: Callable[[Campaign], int] | None = None) -> None:
    """Scheduled → sending (the delivery engine, when the send time has come), with the
    audience fixed by fix_audience, which returns how many recipients it wrote."""
    _require(campaign, (S.SCHEDULED,), _("gestartet"))
    campaign.status = S.SENDING
    campaign.started_at = campaign.started_at or utcnow()
    if fix_audience is not None:
        campaign.recipients_count = fix_audience(campaign)
    archive.publish(campaign)  # the archive copy exists before the first mail goes out


def pause(campaign: Campaign, note: str = "") -> None:
    """Sending or scheduled → paused; started_at remembers whether sending had begun."""
    _require(campaign, (S.SENDING, S.SCHEDULED), _("pausiert"))
    if campaign.status == S.SENDING and campaign.started_at is None:
        campaign.started_at = utcnow()
    campaign.status = S.PAUSED
    campaign.status_note = note


def resume(campaign: Campaign) -> None:
    """Paused → sending if it had started, else back to scheduled."""
    _require(campaign, (S.PAUSED,), _("fortgesetzt"))
    campaign.status = S.SENDING if campaign.started_at else S.SCHEDULED
    campaign.status_note = ""


def cancel(campaign: Campaign) -> None:
    """Draft, scheduled, paused or sending → cancelled; pending deliveries are skipped."""
    _require(campaign, (S.DRAFT, S.SCHEDULED, S.PAUSED, S.SENDING), _("abgebrochen"))
    campaign.status = S.CANCELLED
    campaign.finished_at = utcnow()


def finish(campaign: Campaign) -> None:
    """Sending → sent (the delivery engine, when no delivery is pending)."""
    _require(campaign, (S.SENDING,), _("abgeschlossen"))
    campaign.status = S.SENT
    campaign.finished_at = utcnow()


def pause_for_failures(campaign: Campaign, failures: int, last_answer: str) -> None:
    """Sending → paused after a run of failures (the engine); every active editor is told."""
    note = _("Automatisch angehalten: %(count)d Zustellungen in Folge sind fehlgeschlagen. "
             "Letzte Antwort des Mailservers: %(answer)s. Bitte prüfen Sie den Mailserver "
             "und setzen Sie den Versand dann fort.", count=failures, answer=last_answer[:300])
    pause(campaign, note)
    log.warning("campaign %s paused after %s failures in a row: %s",
                campaign.id, failures, last_answer)
    _tell_editors(campaign, failures, last_answer)


def pause_unrenderable(campaign: Campaign, error: Exception) -> None:
    """Sending → paused with the reason when its mail cannot be built (not retried)."""
    pause(campaign, _("Automatisch angehalten: Die Mail konnte nicht erstellt werden "
                      "(%(error)s). Bitte prüfen Sie Inhalt und Vorlage.",
                      error=str(error)[:300]))


def _tell_editors(campaign: Campaign, failures: int, last_answer: str) -> None:
    """Queue a mail through the outbox to every active editor."""
    editors = db.session.scalars(select(Editor).where(Editor.active.is_(True))).all()
    text, html = render_mail("campaign_paused", campaign=campaign, failures=failures,
                             answer=last_answer, base_url=current_app.config["BASE_URL"])
    subject = _("Versand angehalten: %(subject)s", subject=campaign.subject)
    for editor in editors:
        to = format_address(editor.name, ascii_address(editor.email))
        queue_mail(build_message(to, subject, text, html), "campaign-paused")


# --- test sends ------------------------------------------------------------

def clean_test_recipients(emails: object) -> list[str]:
    """1–5 valid, distinct addresses (display form); CampaignError (422) names a bad one."""
    if not isinstance(emails, list | tuple) or not emails:
        raise CampaignError.invalid(_("Bitte geben Sie mindestens eine Adresse für den "
                                      "Testversand an."), "invalid_email")
    if len(emails) > TEST_RECIPIENTS_MAX:
        raise CampaignError.invalid(_("Ein Testversand geht an höchstens %(max)d Adressen.",
                                      max=TEST_RECIPIENTS_MAX), "invalid_email")
    result: dict[str, str] = {}
    for raw in emails:
        try:
            display, key = normalize_address(raw if isinstance(raw, str) else "")
        except InvalidAddress as exc:
            shown = raw[:80] if isinstance(raw, str) else str(raw)[:80]
            raise CampaignError.invalid(f"„{shown}“: {exc}", "invalid_email")
        result.setdefault(key, display)
    return list(result.values())
