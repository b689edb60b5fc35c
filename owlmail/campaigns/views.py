"""Campaign editor pages and the public archive."""

from flask import Blueprint

bp = Blueprint("campaigns", __name__)


@bp.get("/archive")
def archive():
    return "Archiv folgt."
