"""Admin pages of subscriber fields, and the campaign editor's audience count."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from ..auth.decorators import admin_required, editor_required
from ..campaigns import segments
from ..campaigns.forms import CampaignForm
from ..campaigns.services import CampaignError, resolve_topics
from ..extensions import db
from ..subscriptions.fields import services
from ..subscriptions.fields.forms import FieldForm, segment_data, with_segment_inputs
from ..subscriptions.fields.models import FieldKind, SubscriberField

bp = Blueprint("fields", __name__, url_prefix="/admin")


def _audience_of(form) -> int:
    """Recipients the form's topics and segment reach now (CampaignError when unknown)."""
    topics = resolve_topics(form.topics.data or [])
    return segments.count_audience([t.id for t in topics],
                                   segments.clean_segment(segment_data(form)))


def audience_text(count: int) -> str:
    return ngettext("Erreicht derzeit %(num)d bestätigte Person.",
                    "Erreicht derzeit %(num)d bestätigte Personen.", count)


@bp.app_template_global()
def audience_size(form) -> str:
    """The editor's "reaches N people" line for the form as shown."""
    try:
        return audience_text(_audience_of(form))
    except CampaignError as exc:
        return exc.message


@bp.post("/campaigns/audience")
@editor_required
def audience():
    """The live count while the editor ticks topics and segment values (JSON)."""
    form = with_segment_inputs(CampaignForm)()
    form.topics.choices = [(slug, slug) for slug in form.topics.data or []]
    try:
        count = _audience_of(form)
    except CampaignError as exc:
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status
    return jsonify({"recipients": count, "text": audience_text(count)})



# --- admins define the fields ------------------------------------------------------

def _field(field_id: int) -> SubscriberField:
    return db.session.get(SubscriberField, field_id) or abort(404)


def _definition(form: FieldForm) -> dict:
    """The service arguments of a field form (FieldError for unreadable choices)."""
    return {"label_de": form.label_de.data, "label_en": form.label_en.data or "",
            "required": form.required.data, "on_form": form.on_form.data,
            "options": services.parse_options(form.options.data or "")}


@bp.route("/fields", methods=["GET", "POST"])
@admin_required
def field_list():
    form = FieldForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                field = services.create_field(form.key.data, FieldKind(form.kind.data),
                                              **_definition(form))
            except services.FieldError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Das Feld „%(key)s“ wurde angelegt.", key=field.key), "success")
                return redirect(url_for(".field_list"), code=303)
    fields = db.session.scalars(select(SubscriberField).order_by(
        SubscriberField.position, SubscriberField.id)).all()
    return render_template("fields/list.html", form=form, fields=fields), status


@bp.route("/fields/<int:field_id>", methods=["GET", "POST"])
@admin_required
def edit_field(field_id: int):
    field = _field(field_id)
    form = FieldForm(obj=field, options=services.options_text(field))
    status = 200
    if request.method == "POST":
        status = 400
        form.key.data, form.kind.data = field.key, field.kind.value  # fixed once created
        if form.validate():
            try:
                services.update_field(field, **_definition(form))
            except services.FieldError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Das Feld „%(key)s“ wurde gespeichert.", key=field.key), "success")
                return redirect(url_for(".field_list"), code=303)
    return render_template("fields/edit.html", form=form, field=field), status
