"""The numbers of one campaign's report, from its counters, deliveries, events and what
its links counted (clicks for every reader; opens and clickers only among readers with
tracking consent)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import case, func, select

from ..campaigns.models import Campaign
from ..delivery.models import Delivery, DeliveryStatus
from ..events import CampaignEvent, EventKind
from ..extensions import db
from ..subscriptions.models import Subscriber
from ..tracking.services import Clicks, campaign_clicks

TOP_DOMAINS = 10
TIMELINE_DAYS = 14


class DayPoint(NamedTuple):
    """One day of the report's chart (the dashboard chart's point shape)."""

    start: datetime
    new: int
    total: int


@dataclass(frozen=True)
class DomainLine:
    domain: str
    sent: int
    failed: int


@dataclass
class Report:
    recipients: int
    sent: int
    failed: int
    skipped: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    unsubscribed: int
    domains: list[DomainLine] = field(default_factory=list)
    timeline: list[DayPoint] = field(default_factory=list)
    clicks: Clicks = field(default_factory=Clicks)
    click_timeline: list[DayPoint] = field(default_factory=list)

    @property
    def bounced(self) -> int:
        return self.hard_bounces + self.soft_bounces

    @property
    def tracking_share(self) -> float:
        """The share of readers reached who agree to tracking (today)."""
        return self.clicks.tracking_recipients / self.sent if self.sent else 0.0

    def as_json(self) -> dict:
        """The API's report object."""
        return {
            "recipients": self.recipients, "sent": self.sent, "failed": self.failed,
            "bounced": self.bounced,
            "bounces": {"hard": self.hard_bounces, "soft": self.soft_bounces},
            "complaints": self.complaints, "unsubscribed": self.unsubscribed,
            "domains": [{"domain": d.domain, "sent": d.sent, "failed": d.failed}
                        for d in self.domains],
            **self._clicks_json(),
        }

    def _clicks_json(self) -> dict:
        """Clicks of every reader per link; opens and unique clickers only among readers
        with tracking consent (`tracking_readers` of them, `tracking_share` of those
        reached); `filtered`: fetches by link scanners and HEAD requests, not counted."""
        clicks = self.clicks
        return {
            "clicks": clicks.clicks,
            "links": [{"url": line.url, "clicks": line.clicks} for line in clicks.links],
            "opens": clicks.opens, "unique_clickers": clicks.unique_clickers,
            "tracking_readers": clicks.tracking_recipients,
            "tracking_share": round(self.tracking_share, 4), "filtered": clicks.filtered,
        }


def campaign_report(campaign: Campaign) -> Report:
    """Counters of the campaign, its events by kind, its top domains and a timeline."""
    kinds = event_counts(campaign.id)
    clicks = campaign_clicks(campaign.id, campaign.sent_count, campaign.started_at,
                             TIMELINE_DAYS)
    return Report(
        campaign.recipients_count, campaign.sent_count, campaign.failed_count,
        campaign.skipped_count, kinds.get(EventKind.HARD_BOUNCE, 0),
        kinds.get(EventKind.SOFT_BOUNCE, 0), kinds.get(EventKind.COMPLAINT, 0),
        kinds.get(EventKind.UNSUBSCRIBE, 0), top_domains(campaign.id),
        timeline(campaign) if campaign.started_at else [], clicks,
        running_totals(clicks.per_day))


def running_totals(per_day: list[tuple[datetime, int]]) -> list[DayPoint]:
    """Day counts as chart points with the running total."""
    points, total = [], 0
    for day, new in per_day:
        total += new
        points.append(DayPoint(day, new, total))
    return points


def event_counts(campaign_id: int) -> dict[EventKind, int]:
    """How many events of each kind the campaign has (erased people included)."""
    rows = db.session.execute(
        select(CampaignEvent.kind, func.count()).where(CampaignEvent.campaign_id == campaign_id)
        .group_by(CampaignEvent.kind)).all()
    return {EventKind(kind): count for kind, count in rows}


def _domain_of(column):
    """The part after the @, in the database's own dialect."""
    if db.engine.dialect.name == "postgresql":
        return func.split_part(column, "@", 2)
    return func.substr(column, func.instr(column, "@") + 1)


def top_domains(campaign_id: int) -> list[DomainLine]:
    """The ten recipient domains with the most deliveries, with sent and failed."""
    domain = _domain_of(Subscriber.email_key).label("domain")
    sent = func.sum(case((Delivery.status == DeliveryStatus.SENT, 1), else_=0))
    failed = func.sum(case((Delivery.status == DeliveryStatus.FAILED, 1), else_=0))
    rows = db.session.execute(
        select(domain, sent, failed).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign_id).group_by(domain)
        .order_by(func.count().desc(), domain).limit(TOP_DOMAINS)).all()
    return [DomainLine(row.domain, int(row[1] or 0), int(row[2] or 0)) for row in rows]


def timeline(campaign: Campaign) -> list[DayPoint]:
    """Per day since the start: bounces, complaints and unsubscribes, and their sum so far."""
    start = campaign.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=n) for n in range(TIMELINE_DAYS)]
    stamps = db.session.scalars(select(CampaignEvent.at).where(
        CampaignEvent.campaign_id == campaign.id, CampaignEvent.at >= start)).all()
    per_day = [0] * TIMELINE_DAYS
    for at in stamps:
        index = (at - start).days
        if 0 <= index < TIMELINE_DAYS:
            per_day[index] += 1
    points, total = [], 0
    for day, new in zip(days, per_day, strict=True):
        total += new
        points.append(DayPoint(day, new, total))
    return points
