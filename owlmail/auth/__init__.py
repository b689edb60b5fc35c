"""Editor accounts: login sessions, roles and API tokens."""

from flask import Flask

from ..extensions import db, login_manager
from .models import Editor


def configure_login(app: Flask) -> None:
    """Flask-Login: load editors by id, send anonymous visitors to the login page."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Bitte melden Sie sich an."

    @login_manager.user_loader
    def load_editor(editor_id: str) -> Editor | None:
        editor = db.session.get(Editor, int(editor_id)) if editor_id.isdigit() else None
        return editor if editor and editor.active else None
