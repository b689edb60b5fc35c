"""The public archive copy of a campaign: rendered once, stored, read by every visitor.

INTERFACE (used by the delivery engine, the editor page, the CLI and the archive views):

    publish(campaign) -> ArchiveCopy        # render and store (when sending starts)
    rerender(campaign) -> ArchiveCopy       # the same, on purpose, for a started campaign
    rerender_all() -> int                   # every started campaign; how many
    published(*columns) -> select           # sent public campaigns joined with their copy

Rendering compiles Markdown, sanitises and inlines CSS: far too costly for each visit
of a crowd (and unbounded for pathological bodies), so visitors only read the stored
copy. A change of the mail layout reaches the archive through `rerender`.
"""

import hashlib

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import lazyload

from ..extensions import db
from ..timeutil import utcnow
from .errors import CampaignError
from .models import ArchiveCopy, Campaign, CampaignStatus
from .rendering import archive_fragment, render_archive

S = CampaignStatus
# Once sending has started the content is fixed, and readers may look for it.
STARTED = (S.SENDING, S.PAUSED, S.SENT)


def publish(campaign: Campaign) -> ArchiveCopy:
    """Render the archive copy (HTML and text without personal fields, feed entry), its
    frame in the site's first language whoever presses the button."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        text, html = render_archive(campaign)
        feed_html = archive_fragment(campaign)
    copy = db.session.get(ArchiveCopy, campaign.id) or ArchiveCopy(campaign_id=campaign.id)
    copy.html, copy.text, copy.feed_html = html, text, feed_html
    copy.digest = _digest(html, text, feed_html)
    copy.rendered_at = utcnow()
    db.session.add(copy)
    return copy


def _digest(*parts: str) -> str:
    """A fingerprint of the copy's content."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode())
        hashed.update(b"\0")
    return hashed.hexdigest()


def rerender(campaign: Campaign) -> ArchiveCopy:
    """Render a started campaign's copy again (after the mail layout changed)."""
    if campaign.status not in STARTED:
        raise CampaignError(_("Eine Archivkopie gibt es erst, wenn der Versand begonnen "
                              "hat."), 409, "wrong_state")
    return publish(campaign)


def rerender_all() -> int:
    """Render the copy of every started campaign again; how many."""
    campaigns = db.session.scalars(select(Campaign).where(Campaign.status.in_(STARTED))
                                   .order_by(Campaign.id)).all()
    for campaign in campaigns:
        publish(campaign)
    return len(campaigns)


def published(*columns) -> Select:
    """Sent public campaigns that have a copy: (Campaign, ArchiveCopy) rows by default."""
    columns = columns or (Campaign, ArchiveCopy)
    query = (select(*columns).select_from(Campaign)
             .join(ArchiveCopy, ArchiveCopy.campaign_id == Campaign.id)
             .where(Campaign.public.is_(True), Campaign.status == S.SENT,
                    Campaign.slug.is_not(None)))
    if any(column is Campaign for column in columns):
        query = query.options(lazyload(Campaign.topics))  # the copy has them: no 2nd query
    return query
