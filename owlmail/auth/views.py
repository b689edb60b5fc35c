"""Login, logout and the editor's own account."""

from flask import Blueprint

from .decorators import editor_required

bp = Blueprint("auth", __name__, url_prefix="/admin")


@bp.get("/login")
def login():
    return "Login folgt."


@bp.post("/logout")
def logout():
    return "Logout folgt."


@bp.get("/account")
@editor_required
def account():
    return "Konto folgt."
