"""The deliverability page for admins: records to publish, and a DNS check on request."""

from flask import Blueprint, current_app, render_template, request

from ..auth.decorators import admin_required
from ..forms import ButtonForm
from .services import check, expected_records

bp = Blueprint("deliverability", __name__)


@bp.route("/admin/deliverability", methods=["GET", "POST"])
@admin_required
def page():
    """What to publish in DNS for SPF, DKIM and DMARC; POST asks DNS what it holds now."""
    config = current_app.config
    records = expected_records(config)
    form = ButtonForm()
    checked = request.method == "POST" and form.validate()
    if checked:
        records = check(records, config)
    status = 400 if request.method == "POST" and not checked else 200
    return render_template("deliverability/page.html", records=records, form=form,
                           checked=checked, dkim_on=any(r.purpose == "dkim" for r in records),
                           ), status
