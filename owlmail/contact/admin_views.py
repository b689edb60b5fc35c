"""The editors' inbox of contact messages."""

from flask import Blueprint

from ..auth.decorators import editor_required

bp = Blueprint("contact_admin", __name__, url_prefix="/admin/contact")


@bp.get("/")
@editor_required
def inbox():
    return "Posteingang folgt."
