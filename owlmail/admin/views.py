"""Admin pages: dashboard, subscribers, topics, import."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
