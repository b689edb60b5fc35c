"""Campaigns through the API: create, read, change, test-send and move through the states.

Each view validates (schemas), calls one service, commits, and answers the campaign.
"""

import hashlib

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit
from ..campaigns import segments, services
from ..campaigns.models import Campaign
from ..campaigns.progress import campaign_progress
from ..delivery import testsend
from ..extensions import db, limiter
from ..reports.services import campaign_report
from ..subscriptions.queries import parse_cursor
from .auth import bearer_token, current_editor
from .common import api_blueprint, aware, get_or_404
from .schemas import (
    CampaignCreateSchema,
    CampaignPageSchema,
    CampaignPatchSchema,
    CampaignQuerySchema,
    CampaignSchema,
    ReportSchema,
    ScheduleSchema,
    TestSendResultSchema,
    TestSendSchema,
)

blp = api_blueprint("api_campaigns", "Kampagnen")


def campaign_data(campaign: Campaign) -> dict:
    """A campaign as the API shows it, with progress counters as `stats`."""
    return {
        "id": campaign.id, "subject": campaign.subject, "preheader": campaign.preheader,
        "body": campaign.body, "template": campaign.template,
        "topics": [t.slug for t in sorted(campaign.topics, key=lambda t: (t.position, t.id))],
        "status": campaign.status, "status_note": campaign.status_note,
        "send_at": aware(campaign.send_at), "started_at": aware(campaign.started_at),
        "finished_at": aware(campaign.finished_at), "created_at": aware(campaign.created_at),
        "updated_at": aware(campaign.updated_at),
        "segment": segments.segment_of(campaign.id),
        "stats": campaign_progress(campaign).as_stats(),
    }


def load_campaign(campaign_id: int, lock: bool = False) -> Campaign:
    """The campaign; lock=True holds its row (PostgreSQL) so a change cannot overwrite
    what the delivery engine wrote meanwhile (e.g. cancel after it finished)."""
    return get_or_404(Campaign, campaign_id, _("Diese Kampagne gibt es nicht."), lock=lock)


def _test_send_limit() -> str:
    return current_app.config["API_TEST_SEND_RATE_LIMIT"]


def _token_key() -> str:
    """Rate limits count per token (scripts share an office's address)."""
    token = bearer_token() or ""
    return "api-token:" + hashlib.sha256(token.encode()).hexdigest()[:24]


def _saved(campaign: Campaign) -> dict:
    """Commit the request's change and answer the campaign as stored."""
    db.session.commit()
    return campaign_data(campaign)


@blp.get("/campaigns")
@blp.arguments(CampaignQuerySchema, location="query")
@blp.response(200, CampaignPageSchema)
def list_campaigns(args: dict):
    """Newest first, optionally by `status`; keyset paging with the `after` cursor."""
    limit = args["limit"]
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit + 1)
    if args.get("status"):
        query = query.where(Campaign.status == args["status"])
    before_id = parse_cursor(args.get("after"))
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    rows = list(db.session.scalars(query))
    items = rows[:limit]
    more = len(rows) > limit
    return {"items": [campaign_data(c) for c in items],
            "next": str(items[-1].id) if more else None}


@blp.post("/campaigns")
@blp.arguments(CampaignCreateSchema)
@blp.response(201, CampaignSchema)
def create_campaign(data: dict):
    """A new draft: subject, Markdown body, topic slugs (empty = all), segment, template."""
    segment = segments.clean_segment(data.pop("segment"))
    campaign = services.create_campaign(current_editor(), **data)
    db.session.flush()
    audit.record_campaign(current_editor(), audit.AuditAction.CAMPAIGN_CREATED, campaign)
    segments.set_segment(campaign.id, segment)
    return _saved(campaign)


@blp.get("/campaigns/<int:campaign_id>")
@blp.response(200, CampaignSchema)
def get_campaign(campaign_id: int):
    """One campaign with its status and delivery counters."""
    return campaign_data(load_campaign(campaign_id))


@blp.get("/campaigns/<int:campaign_id>/report")
@blp.response(200, ReportSchema)
def report(campaign_id: int):
    """What the campaign did: sent, refused, bounced (hard/soft), complaints, unsubscribes
    through its links, and the top ten recipient domains."""
    return campaign_report(load_campaign(campaign_id)).as_json()


@blp.patch("/campaigns/<int:campaign_id>")
@blp.arguments(CampaignPatchSchema)
@blp.response(200, CampaignSchema)
def update_campaign(data: dict, campaign_id: int):
    """Change a draft or scheduled campaign; only the fields sent change."""
    campaign = load_campaign(campaign_id, lock=True)
    segment = segments.clean_segment(data.pop("segment", None)) if "segment" in data else None
    services.update_campaign(campaign, **data)
    if segment is not None:
        segments.set_segment(campaign.id, segment)
    return _saved(campaign)


@blp.post("/campaigns/<int:campaign_id>/test")
@limiter.limit(_test_send_limit, key_func=_token_key)
@blp.arguments(TestSendSchema)
@blp.response(202, TestSendResultSchema)
def send_test(data: dict, campaign_id: int):
    """Queue a test copy (subject marked [TEST]) to up to five addresses."""
    campaign = load_campaign(campaign_id)
    emails = testsend.send_test(campaign, data["emails"])
    audit.record_campaign(current_editor(), audit.AuditAction.TEST_SENT, campaign)
    db.session.commit()
    return {"emails": emails}


@blp.post("/campaigns/<int:campaign_id>/schedule")
@blp.arguments(ScheduleSchema)
@blp.response(200, CampaignSchema)
def schedule(data: dict, campaign_id: int):
    """Schedule for `send_at` (ISO 8601 with offset), or for now when it is null."""
    campaign = load_campaign(campaign_id, lock=True)
    services.schedule(campaign, data["send_at"])
    audit.record_campaign(current_editor(), audit.schedule_action(data["send_at"]), campaign)
    return _saved(campaign)


def _transition(name: str, action):
    """A POST /campaigns/<id>/<name> view calling one state-machine service."""

    @blp.post(f"/campaigns/<int:campaign_id>/{name}", endpoint=name)
    @blp.doc(summary=action.__doc__)
    @blp.response(200, CampaignSchema)
    def view(campaign_id: int):
        campaign = load_campaign(campaign_id, lock=True)
        action(campaign)
        audit.record_campaign(current_editor(), audit.AuditAction(f"campaign.{name}"), campaign)
        return _saved(campaign)

    return view


pause = _transition("pause", services.pause)
resume = _transition("resume", services.resume)
cancel = _transition("cancel", services.cancel)
