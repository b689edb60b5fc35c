"""The public contact form."""

from flask import Blueprint

bp = Blueprint("contact", __name__)


@bp.get("/contact")
def contact():
    return "Kontaktformular folgt."
