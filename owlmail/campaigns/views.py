"""Campaign editor pages and the public archive."""

from flask import Blueprint

from ..auth.decorators import editor_required

bp = Blueprint("campaigns", __name__)


@bp.get("/admin/campaigns")
@editor_required
def list_campaigns():
    return "Kampagnen folgen."


@bp.get("/archive")
def archive():
    return "Archiv folgt."
