"""Login and logout for editors."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/admin")


@bp.get("/login")
def login():
    return "Login folgt."
