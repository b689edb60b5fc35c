"""The dev outbox (DEV_OUTBOX, `make run`): every mail can be read here; the blueprint is
registered only in that mode, so in production /dev/outbox does not exist."""

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Blueprint, render_template
from markupsafe import Markup, escape

from ..mail.transport import outbox_dir
from ..security import frame_mail_html

bp = Blueprint("outbox", __name__, url_prefix="/dev")
URL = re.compile(r"https?://[^\s<>\"]+")


def _linkify(text: str) -> Markup:
    """Escape plain text and make its links clickable."""
    escaped = str(escape(text))
    linked = URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return Markup(linked)  # noqa: S704 (the text was escaped just above)


def _read(path: Path) -> dict:
    msg: EmailMessage = message_from_bytes(path.read_bytes(), policy=policy.default)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    return {
        "name": path.stem,
        "headers": list(msg.items()),
        "subject": msg["Subject"], "to": msg["To"], "from": msg["From"], "date": msg["Date"],
        "text": _linkify(text.get_content()) if text else "",
        "html": html.get_content() if html else None,
    }


@bp.get("/outbox")
def outbox():
    """The captured mails, newest first."""
    folder = outbox_dir()
    paths = sorted(folder.glob("*.eml"), reverse=True)[:50] if folder.exists() else []
    frame_mail_html()
    return render_template("dev/outbox.html", mails=[_read(path) for path in paths])
