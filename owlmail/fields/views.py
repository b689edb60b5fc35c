"""Admin pages of subscriber fields, and the campaign editor's audience count."""

from flask import Blueprint, jsonify
from flask_babel import ngettext

from ..auth.decorators import editor_required
from ..campaigns.forms import CampaignForm
from ..campaigns.services import CampaignError, resolve_topics
from . import segments
from .forms import segment_data, with_segment_inputs

bp = Blueprint("fields", __name__, url_prefix="/admin")


def _audience_of(form) -> int:
    """Recipients the form's topics and segment reach now (CampaignError when unknown)."""
    topics = resolve_topics(form.topics.data or [])
    return segments.count_audience([t.id for t in topics],
                                   segments.clean_segment(segment_data(form)))


def audience_text(count: int) -> str:
    return ngettext("Erreicht derzeit %(num)d bestätigte Person.",
                    "Erreicht derzeit %(num)d bestätigte Personen.", count)


@bp.app_template_global()
def audience_size(form) -> str:
    """The editor's "reaches N people" line for the form as shown."""
    try:
        return audience_text(_audience_of(form))
    except CampaignError as exc:
        return exc.message


@bp.post("/campaigns/audience")
@editor_required
def audience():
    """The live count while the editor ticks topics and segment values (JSON)."""
    form = with_segment_inputs(CampaignForm)()
    form.topics.choices = [(slug, slug) for slug in form.topics.data or []]
    try:
        count = _audience_of(form)
    except CampaignError as exc:
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status
    return jsonify({"recipients": count, "text": audience_text(count)})

