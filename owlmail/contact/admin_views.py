"""The editors' inbox of contact messages: list, filter, read, mark handled, export."""

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from .. import audit
from ..auth.decorators import editor_required
from ..extensions import db
from ..forms import ButtonForm
from ..inputs import page_number
from ..timeutil import utcnow
from . import services
from .models import ContactMessage
from .services import StatusFilter

bp = Blueprint("contact_admin", __name__, url_prefix="/admin/contact")


def _filters() -> tuple[StatusFilter, str]:
    """The status and topic chosen in the query string; unknown values mean "all"."""
    try:
        status = StatusFilter(request.args.get("status", ""))
    except ValueError:
        status = StatusFilter.ALL
    return status, request.args.get("topic", "")[:64]


def _message(message_id: int) -> ContactMessage:
    return db.session.get(ContactMessage, message_id) or abort(404)


@bp.get("/")
@editor_required
def inbox():
    status, topic = _filters()
    page = page_number()
    rows, more = services.inbox_page(status, topic, page)
    return render_template(
        "contact/inbox.html", rows=rows, more=more, page=page, status=status, topic=topic,
        topics=services.all_topics(), new_count=services.count_new(),
    )


@bp.get("/<int:message_id>")
@editor_required
def detail(message_id: int):
    row = _message(message_id)
    return render_template("contact/detail.html", row=row, button=ButtonForm(),
                           mailto=services.reply_mailto(row),
                           reply_subject=services.reply_subject(row))


@bp.post("/<int:message_id>/handled")
@editor_required
def mark_handled(message_id: int):
    row = _message(message_id)
    services.mark_handled(row, current_user)
    db.session.commit()
    flash(_("Die Nachricht ist als erledigt markiert."), "success")
    return redirect(url_for(".inbox"), code=303)


@bp.post("/<int:message_id>/reopen")
@editor_required
def reopen(message_id: int):
    row = _message(message_id)
    services.reopen(row)
    db.session.commit()
    flash(_("Die Nachricht ist wieder als neu markiert."), "success")
    return redirect(url_for(".detail", message_id=row.id), code=303)


@bp.get("/export.csv")
@editor_required
def export():
    status, topic = _filters()
    audit.record_apart(current_user, audit.AuditAction.EXPORT, "contact messages")
    filename = f"kontakt-{utcnow():%Y-%m-%d}.csv"
    lines = services.export_lines(status, topic or None)
    return Response(stream_with_context(lines), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
