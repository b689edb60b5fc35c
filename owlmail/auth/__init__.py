"""Editor accounts: login sessions, two-factor login, roles and API tokens."""

from flask import Flask, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import login_manager
from . import sessions
from .models import Editor


def configure_login(app: Flask) -> None:
    """Flask-Login: load editors by id, send anonymous visitors to the login page."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Bitte melden Sie sich an."

    app.after_request(_note_session_use)

    @login_manager.user_loader
    def load_editor(editor_id: str) -> Editor | None:
        if not editor_id.isdigit() or len(editor_id) > 10:
            return None
        # A session that ended (logout, new password, reset, deactivation) opens nothing.
        return sessions.open_editor(int(editor_id))

    @app.before_request
    def two_factor_required():
        """With REQUIRE_TWO_FACTOR an editor without it sees only the page that sets it up."""
        if not app.config["REQUIRE_TWO_FACTOR"] or not request.path.startswith("/admin/"):
            return None
        if request.endpoint in OPEN_WITHOUT_TWO_FACTOR or not current_user.is_authenticated:
            return None
        if current_user.two_factor:
            return None
        flash(_("Bitte richten Sie zuerst die Zwei-Faktor-Anmeldung ein."), "error")
        return redirect(url_for("auth.two_factor"))


def _note_session_use(response):
    """The session's "last seen", noted after the request (see sessions.note_seen)."""
    sessions.note_seen()
    return response


# Pages an editor must reach before two-factor login is set up (REQUIRE_TWO_FACTOR).
OPEN_WITHOUT_TWO_FACTOR = {"auth.login", "auth.logout", "auth.two_factor", "auth.reset_request",
                           "auth.reset_password"}
