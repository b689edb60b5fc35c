"""Reading what the links counted: the address of a link, a campaign's click numbers,
and forgetting a person's own rows. Never commits."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, distinct, func, select

from ..campaigns.links import link_urls
from ..delivery.models import Delivery, DeliveryStatus
from ..extensions import db
from ..subscriptions.models import Subscriber
from ..transactions import end_read
from .models import OPEN_PIXEL, LinkCount, ReaderActivity

_CACHE = "owlmail.link_urls"
CACHED_CAMPAIGNS = 200  # links of this many campaigns stay in memory per process


def link_url(campaign_id: int, number: int) -> str | None:
    """The address of a campaign's link (links never change once stored: kept in memory)."""
    cache: dict[int, dict[int, str]] = current_app.extensions.setdefault(_CACHE, {})
    urls = cache.get(campaign_id)
    if urls is None or number not in urls:
        urls = link_urls(campaign_id)
        end_read()
        if urls:
            if len(cache) >= CACHED_CAMPAIGNS:
                cache.clear()
            cache[campaign_id] = urls
    return urls.get(number)


def forget_reader(subscriber_id: int) -> None:
    """Erasure: the person's own click and open rows go; the counts per link stay (they
    name nobody)."""
    db.session.execute(delete(ReaderActivity).where(
        ReaderActivity.subscriber_id == subscriber_id))


# --- the report's numbers ------------------------------------------------------------

@dataclass(frozen=True)
class LinkLine:
    number: int
    url: str
    clicks: int


@dataclass
class Clicks:
    clicks: int = 0  # by people, every reader (anonymous and consenting)
    filtered: int = 0  # HEAD requests and link scanners, links and pixel
    links: list[LinkLine] = field(default_factory=list)  # most clicked first
    per_day: list[tuple[datetime, int]] = field(default_factory=list)
    opens: int = 0  # consenting readers who opened (pixel) or clicked
    unique_clickers: int = 0  # consenting readers who clicked
    tracking_recipients: int = 0  # readers the campaign reached who agree to tracking now


def campaign_clicks(campaign_id: int, sent: int, start: datetime | None,
                    days: int) -> Clicks:
    """What the links of one campaign counted; `days` days from `start` per day."""
    totals = {link: (clicks, filtered) for link, clicks, filtered in db.session.execute(
        select(LinkCount.link, func.sum(LinkCount.clicks), func.sum(LinkCount.filtered))
        .where(LinkCount.campaign_id == campaign_id).group_by(LinkCount.link)).all()}
    urls = link_urls(campaign_id)
    lines = [LinkLine(number, url, int(totals.get(number, (0, 0))[0] or 0))
             for number, url in urls.items()]
    lines.sort(key=lambda line: (-line.clicks, line.number))
    result = Clicks(links=lines)
    result.clicks = sum(int(c or 0) for link, (c, _f) in totals.items() if link != OPEN_PIXEL)
    result.filtered = sum(int(f or 0) for _c, f in totals.values())
    result.per_day = _per_day(campaign_id, start, days) if start else []
    result.opens, result.unique_clickers = _readers(campaign_id)
    result.tracking_recipients = _tracking_recipients(campaign_id) if sent else 0
    return result


def _per_day(campaign_id: int, start: datetime, days: int) -> list[tuple[datetime, int]]:
    """People's clicks on each of the first `days` days from `start` (UTC days)."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = db.session.execute(select(LinkCount.hour, LinkCount.clicks).where(
        LinkCount.campaign_id == campaign_id, LinkCount.link != OPEN_PIXEL,
        LinkCount.hour >= first, LinkCount.hour < first + timedelta(days=days))).all()
    counts = [0] * days
    for hour, clicks in rows:
        counts[(hour - first).days] += clicks
    return [(first + timedelta(days=n), counts[n]) for n in range(days)]


def _readers(campaign_id: int) -> tuple[int, int]:
    """(consenting readers who opened or clicked, consenting readers who clicked)."""
    r = ReaderActivity
    opened = db.session.scalar(select(func.count(distinct(r.subscriber_id))).where(
        r.campaign_id == campaign_id)) or 0
    clicked = db.session.scalar(select(func.count(distinct(r.subscriber_id))).where(
        r.campaign_id == campaign_id, r.link != OPEN_PIXEL)) or 0
    return opened, clicked


def _tracking_recipients(campaign_id: int) -> int:
    """Of the readers the campaign reached, how many agree to tracking today."""
    return db.session.scalar(select(func.count()).select_from(Delivery).join(
        Subscriber, Subscriber.id == Delivery.subscriber_id).where(
        Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENT,
        Subscriber.tracking.is_(True))) or 0
