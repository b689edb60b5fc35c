"""Admin pages: dashboard, subscribers, CSV import/export, topics."""

import io

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .. import audit, erasure
from ..auth.decorators import admin_required, editor_required
from ..campaigns.models import Campaign, CampaignStatus
from ..events import soft_bounced_campaigns
from ..extensions import db
from ..forms import ButtonForm
from ..public.errors import error_response
from ..subscriptions import queries
from ..subscriptions.fields import services as subscriber_fields
from ..subscriptions.models import SubscriberStatus, Topic
from ..timeutil import utcnow
from . import csvfiles, services
from .charts import growth_chart
from .forms import EraseForm, ImportForm, RenameForm, TopicForm
from .services import AdminError

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Each unconfirmed row builds a confirmation mail (a few ms): keep an upload well inside
# one request's time; the command line takes files of any size.
UPLOAD_MAX_ROWS = 2000

# Lazy: the catalogue (and so the reader's language) is consulted when a label is shown.
STATUS_LABELS = {
    SubscriberStatus.PENDING: _l("unbestätigt"),
    SubscriberStatus.CONFIRMED: _l("bestätigt"),
    SubscriberStatus.UNSUBSCRIBED: _l("abgemeldet"),
    SubscriberStatus.BOUNCED: _l("unzustellbar"),
}


CONSENT_ACTIONS = {
    "requested": _l("Anmeldung angefragt"),
    "confirmed": _l("bestätigt (Double-Opt-in)"),
    "imported": _l("importiert"),
    "unsubscribed": _l("abgemeldet"),
    "preferences": _l("Einstellungen geändert"),
    "purged": _l("unbestätigt verfallen"),
    "bounced": _l("unzustellbar"),
    "tracking_given": _l("Klick-Auswertung erlaubt"),
    "tracking_withdrawn": _l("Klick-Auswertung widerrufen"),
    "fields": _l("Angaben zur Person"),
    "soft_bounce": _l("vorübergehend unzustellbar"),
}


@bp.app_template_filter("consent_action")
def consent_action_label(action: str) -> str:
    """A step in the consent history in the reader's language (unknown steps as stored)."""
    return str(CONSENT_ACTIONS[action]) if action in CONSENT_ACTIONS else action


@bp.app_template_filter("subscriber_status")
def subscriber_status_label(status: SubscriberStatus) -> str:
    """A subscriber's status in the reader's language."""
    return str(STATUS_LABELS.get(status, status))


@bp.errorhandler(queries.QueryError)  # AdminError is one
def admin_error(exc: queries.QueryError):
    return error_response(exc.status, exc.message, exc.code)


# --- dashboard -------------------------------------------------------------

def _campaign_link(campaign: Campaign) -> str | None:
    """The campaign's edit page, when the campaign pages provide one."""
    if "campaigns.edit_campaign" not in current_app.view_functions:
        return None
    return url_for("campaigns.edit_campaign", campaign_id=campaign.id)


@bp.get("/")
@editor_required
def dashboard():
    upcoming = db.session.scalars(select(Campaign).where(
        Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.SENDING,
                             CampaignStatus.PAUSED])).order_by(Campaign.send_at).limit(5))
    recent = db.session.scalars(select(Campaign).where(
        Campaign.status == CampaignStatus.SENT).order_by(Campaign.finished_at.desc()).limit(5))
    stats = services.dashboard_stats()
    return render_template(
        "admin/dashboard.html", stats=stats, by_status=stats.by_status,
        by_topic=stats.by_topic, chart=growth_chart(stats.growth),
        upcoming=list(upcoming), recent=list(recent), campaign_link=_campaign_link,
        by_answer=subscriber_fields.count_answers(),
    )


# --- subscribers -----------------------------------------------------------

def _filters() -> dict:
    """The list filters from the query string (validated by the services)."""
    return {
        "status": queries.parse_status(request.args.get("status")),
        "topic": request.args.get("topic") or None,
        "q": (request.args.get("q") or "").strip()[:320] or None,
    }


@bp.get("/subscribers")
@editor_required
def subscribers():
    filters = _filters()
    page = queries.list_subscribers(**filters, after=request.args.get("after"))
    return render_template(
        "admin/subscribers.html", page=page, filters=filters, topics=services.all_topics(),
        statuses=list(SubscriberStatus), first_page=not request.args.get("after"),
    )


@bp.get("/subscribers/<int:subscriber_id>")
@editor_required
def subscriber(subscriber_id: int):
    person = queries.get_subscriber(subscriber_id)
    return render_template("admin/subscriber.html", subscriber=person,
                           wordings=queries.consent_wordings(person),
                           answers=subscriber_fields.shown_values(person.id),
                           soft_bounces=soft_bounced_campaigns(person.id),
                           last_soft_bounce=queries.last_soft_bounce(person))


@bp.route("/subscribers/<int:subscriber_id>/erase", methods=["GET", "POST"])
@admin_required
def erase(subscriber_id: int):
    person = queries.get_subscriber(subscriber_id)
    form = EraseForm()
    if request.method == "POST" and form.validate():
        erasure.erase_person(person, by=current_user)
        audit.record(current_user, audit.AuditAction.ERASED, audit.subscriber_target(person.id))
        db.session.commit()
        services.forget_dashboard_stats()
        flash(_("Die Person wurde gelöscht. Ihre Adresse bleibt nur als Prüfsumme gesperrt, "
                "damit ein Import sie nicht wieder aufnimmt."), "success")
        return redirect(url_for(".subscribers"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/erase.html", subscriber=person, form=form), status


@bp.get("/subscribers/export.csv")
@editor_required
def export():
    filters = _filters()
    if filters["topic"]:
        queries.topic_by_slug(filters["topic"])
    lines = csvfiles.export_lines(status=filters["status"], topic=filters["topic"])
    audit.record_apart(current_user, audit.AuditAction.EXPORT, "subscribers")
    filename = f"owl-morgen-abonnenten-{utcnow():%Y-%m-%d}.csv"
    return Response(stream_with_context(lines), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


# --- import ----------------------------------------------------------------

@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_csv():
    form = ImportForm()
    if request.method == "GET":
        return render_template("admin/import.html", form=form, report=None)
    if not form.validate():
        return render_template("admin/import.html", form=form, report=None), 400
    try:
        report = _import_upload(form.file.data)
    except AdminError as exc:
        db.session.rollback()
        form.file.errors = [*form.file.errors, exc.message]
        return render_template("admin/import.html", form=form, report=None), exc.status
    audit.record(current_user, audit.AuditAction.IMPORT, f"subscribers ({report.imported})")
    db.session.commit()
    services.forget_dashboard_stats()
    return render_template("admin/import.html", form=ImportForm(formdata=None), report=report)


def _import_upload(upload) -> csvfiles.ImportReport:
    """Decode the uploaded file and import it (not committed)."""
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AdminError(_("Die Datei ist nicht in UTF-8 kodiert. Bitte speichern Sie sie als "
                           "„CSV UTF-8“ und laden Sie sie noch einmal hoch."), 400, "invalid_csv")
    if text.count("\n") > UPLOAD_MAX_ROWS + 1:
        raise AdminError(_("Die Datei hat mehr als %(rows)s Zeilen. Größere Listen bitte über "
                           "die Kommandozeile importieren: flask --app owlmail subscribers "
                           "import DATEI.csv", rows=f"{UPLOAD_MAX_ROWS:,}".replace(",", ".")),
                         413, "too_many_rows")
    origin = f"upload:{(upload.filename or 'datei.csv')[:100]} von {current_user.email}"
    return csvfiles.import_subscribers(io.StringIO(text, newline=""), origin=origin)


# --- topics ----------------------------------------------------------------

def _topic(topic_id: int) -> Topic:
    return db.session.get(Topic, topic_id) or abort(404)


@bp.route("/topics", methods=["GET", "POST"])
@admin_required
def topics():
    form = TopicForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate():
            try:
                topic = services.create_topic(form.slug.data, form.name.data)
            except AdminError as exc:
                db.session.rollback()
                form.slug.errors = [*form.slug.errors, exc.message]
            else:
                audit.topic_changed(current_user, topic)
                db.session.commit()
                flash(_("Das Thema „%(name)s“ wurde angelegt.", name=topic.name), "success")
                return redirect(url_for(".topics"), code=303)
    return render_template("admin/topics.html", form=form, topics=services.all_topics(),
                           rename=RenameForm(formdata=None), button=ButtonForm()), status


@bp.post("/topics/<int:topic_id>/rename")
@admin_required
def rename_topic(topic_id: int):
    topic = _topic(topic_id)
    form = RenameForm()
    if not form.validate():
        flash(_("Bitte geben Sie einen Namen mit höchstens 120 Zeichen an."), "error")
        return redirect(url_for(".topics"), code=303)
    services.rename_topic(topic, form.name.data)
    audit.topic_changed(current_user, topic)
    db.session.commit()
    flash(_("Das Thema heißt jetzt „%(name)s“.", name=topic.name), "success")
    return redirect(url_for(".topics"), code=303)


@bp.post("/topics/<int:topic_id>/visibility")
@admin_required
def topic_visibility(topic_id: int):
    topic = _topic(topic_id)
    if not ButtonForm().validate():
        abort(400)
    services.set_topic_hidden(topic, request.form.get("hidden") == "1")
    audit.topic_changed(current_user, topic)
    db.session.commit()
    message = (_("„%(name)s“ ist im Anmeldeformular ausgeblendet.") if topic.hidden
               else _("„%(name)s“ ist im Anmeldeformular wieder sichtbar."))
    flash(message % {"name": topic.name}, "success")
    return redirect(url_for(".topics"), code=303)
