"""The links of a campaign's body by number, as the tracked mails carry them.

INTERFACE (the delivery engine stores them, the redirect and the report read them):

    store_links(campaign_id, urls)      # link n is urls[n - 1]; idempotent
    link_urls(campaign_id) -> {n: url}
"""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from .models import CampaignLink


def store_links(campaign_id: int, urls: list[str]) -> None:
    """Keep the campaign's links (once: the body is fixed once sending has started; a
    second worker starting the same run at the same moment writes nothing)."""
    if not urls:
        return
    dialect_insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    db.session.execute(dialect_insert(CampaignLink).on_conflict_do_nothing(), [
        {"campaign_id": campaign_id, "number": number, "url": url}
        for number, url in enumerate(urls, start=1)])


def link_urls(campaign_id: int) -> dict[int, str]:
    """Number → address of every stored link of the campaign."""
    rows = db.session.execute(select(CampaignLink.number, CampaignLink.url).where(
        CampaignLink.campaign_id == campaign_id)).all()
    return dict(rows)
