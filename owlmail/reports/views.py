"""The report page of one campaign, for editors."""

from flask import Blueprint, render_template

from ..admin.charts import growth_chart
from ..auth.decorators import editor_required
from ..campaigns.models import Campaign
from ..extensions import db
from .services import campaign_report

bp = Blueprint("reports", __name__)


@bp.get("/admin/campaigns/<int:campaign_id>/report")
@editor_required
def campaign(campaign_id: int):
    """Numbers, the links ranked by clicks, charts of clicks and of what came back per day,
    and the top recipient domains."""
    found = db.get_or_404(Campaign, campaign_id)
    report = campaign_report(found)
    chart = growth_chart(report.timeline) if report.timeline else None
    click_chart = growth_chart(report.click_timeline) if report.click_timeline else None
    return render_template("reports/campaign.html", campaign=found, report=report,
                           chart=chart, click_chart=click_chart)
