"""Pages around the forms: health, imprint, privacy."""

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..outbox.services import queue_state

bp = Blueprint("public", __name__)


@bp.get("/healthz")
def healthz():
    """200 with database and queue state; 503 when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
        queue = queue_state()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok", queue=queue)


@bp.get("/impressum")
def imprint():
    return render_template("public/imprint.html")


@bp.get("/datenschutz")
def privacy():
    return render_template("public/privacy.html")
