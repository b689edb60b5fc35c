"""Admin pages: dashboard, subscribers, topics, import."""

from flask import Blueprint

from ..auth.decorators import admin_required, editor_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@editor_required
def dashboard():
    return "Übersicht folgt."


@bp.get("/subscribers")
@editor_required
def subscribers():
    return "Abonnenten folgen."


@bp.get("/topics")
@admin_required
def topics():
    return "Themen folgen."
