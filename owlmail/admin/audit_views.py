"""The admins' audit page: filters, pages, CSV export."""

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for
from flask_login import current_user

from ..audit import services
from ..audit.forms import AuditFilterForm, action_label
from ..audit.models import AuditAction
from ..auth.decorators import admin_required
from ..timeutil import utcnow

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

PER_PAGE = 50
bp.app_template_filter("audit_action")(action_label)


def _filter_form() -> tuple[AuditFilterForm, services.AuditFilter, bool]:
    """The filter form from the query string, the filter it describes, and if it was valid."""
    form = AuditFilterForm(request.args)
    valid = form.validate()
    if not valid:
        return form, services.AuditFilter(), False
    flt = services.AuditFilter(actor=(form.actor.data or "").strip(),
                               action=form.action.data or "",
                               since=form.since.data, until=form.until.data)
    return form, flt, True


@bp.get("/")
@admin_required
def entries():
    form, flt, valid = _filter_form()
    page = form.page.data or 1 if valid else 1
    rows = services.newest(flt, page=page, per_page=PER_PAGE)
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template(
        "audit/list.html", form=form, entries=rows[:PER_PAGE], page=page,
        more=len(rows) > PER_PAGE, args=args,
        export_url=url_for(".export", **args),
    ), 200 if valid else 400


@bp.get("/export.csv")
@admin_required
def export():
    _form, flt, valid = _filter_form()
    if not valid:
        return entries()
    services.record_apart(current_user, AuditAction.AUDIT_EXPORTED, "audit log")
    filename = f"owlmail-protokoll-{utcnow():%Y-%m-%d}.csv"
    return Response(stream_with_context(services.csv_lines(flt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
