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
    """Numbers, a chart of what came back per day, and the top recipient domains."""
    found = db.get_or_404(Campaign, campaign_id)
    report = campaign_report(found)
    chart = growth_chart(report.timeline) if report.timeline else None
    return render_template("reports/campaign.html", campaign=found, report=report,
                           chart=chart)
