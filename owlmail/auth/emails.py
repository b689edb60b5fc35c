"""The password-reset mail, queued in the outbox in the request's transaction."""

from flask import current_app, url_for
from flask_babel import gettext as _

from ..addresses import ascii_address
from ..mail.mime import format_address
from ..outbox.message import build_message, queue_mail, render_mail
from .models import Editor
from .services import reset_token


def queue_reset_mail(editor: Editor) -> None:
    """A mail with a link that sets a new password (30 minutes, once); not committed."""
    link = current_app.config["BASE_URL"] + url_for("auth.reset_password",
                                                    token=reset_token(editor))
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
    text, html = render_mail("password_reset", link=link, minutes=minutes)
    to = format_address(editor.name, ascii_address(editor.email))
    queue_mail(build_message(to, _("Neues Passwort für owlmail"), text, html), "password-reset")
