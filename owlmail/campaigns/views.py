"""Campaign editor pages and the public archive."""

import re
import unicodedata

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import audit
from ..auth.decorators import editor_required
from ..extensions import db
from ..forms import ButtonForm
from ..security import frame_mail_html
from ..subscriptions.fields.forms import fill_segment, segment_data, with_segment_inputs
from ..subscriptions.models import Topic
from ..timeutil import BERLIN, berlin, utcnow
from . import archive as archive_copies
from . import segments, services
from .errors import CampaignError, status_label
from .forms import CampaignForm, PublicForm, ScheduleForm, TestSendForm
from .models import ArchiveCopy, Campaign, CampaignStatus
from .progress import campaign_progress
from .rendering import TEMPLATES, Draft, render_preview, template_for

bp = Blueprint("campaigns", __name__)

S = CampaignStatus
EDITABLE = (S.DRAFT, S.SCHEDULED)
BODY_ERRORS = ("invalid_body", "too_large", "too_complex")


# --- helpers ---------------------------------------------------------------------------

def campaign_or_404(campaign_id: int) -> Campaign:
    """The campaign; a POST locks its row so a change cannot race the sender's own."""
    lock = request.method == "POST"
    return db.session.get(Campaign, campaign_id, with_for_update=lock) or abort(404)


def _topic_choices(form: CampaignForm) -> None:
    topics = db.session.scalars(select(Topic).order_by(Topic.position, Topic.name)).all()
    form.topics.choices = [(t.slug, t.name) for t in topics]


def _content(form: CampaignForm) -> dict:
    """The service arguments a content form carries."""
    return {"subject": form.subject.data, "preheader": form.preheader.data or "",
            "body": form.body.data or "", "topics": form.topics.data or [],
            "template": form.template.data}


def _report(form: CampaignForm, exc: CampaignError) -> None:
    """Show a service's refusal at the body field or above the form."""
    if exc.code in BODY_ERRORS:
        form.body.errors = [*form.body.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def slugify(text: str) -> str:
    """A readable URL part: umlauts spelled out, lower case, hyphens."""
    text = text.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae",
                                         "Ö": "Oe", "Ü": "Ue", "ß": "ss"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80].rstrip("-") or "ausgabe"


def _publish(campaign: Campaign, public: bool) -> None:
    """Mark for the archive; the slug is set once and then kept (links stay valid)."""
    campaign.public = public
    if public and not campaign.slug:
        slug = slugify(campaign.subject)
        taken = db.session.scalar(select(Campaign.id).where(Campaign.slug == slug))
        campaign.slug = f"{slug}-{campaign.id}" if taken else slug


def _page(campaign: Campaign | None, form: CampaignForm, status: int = 200, **forms):
    """The editor page of a new or existing campaign."""
    frame_mail_html()  # the live preview
    preview_text, preview_html, preview_error = _preview_of(form)
    editable = campaign is None or campaign.status in EDITABLE
    return render_template(
        "campaigns/edit.html", campaign=campaign, form=form, editable=editable,
        test_form=forms.get("test_form") or TestSendForm(prefix="test"),
        schedule_form=forms.get("schedule_form") or _schedule_form(campaign),
        action_form=ButtonForm(), public_form=PublicForm(public=bool(campaign and
                                                                      campaign.public)),
        progress=campaign_progress(campaign) if campaign else None,
        preview_text=preview_text, preview_html=preview_html, preview_error=preview_error,
        skeletons={t.id: t.skeleton(current_app.config) for t in TEMPLATES.values()},
        status_label=status_label, S=S,
    ), status


def _schedule_form(campaign: Campaign | None) -> ScheduleForm:
    """The schedule form, showing a planned send time in Berlin time."""
    when = berlin(campaign.send_at) if campaign and campaign.send_at else None
    return ScheduleForm(prefix="schedule", send_at=when.replace(tzinfo=None) if when else None)


def _preview_of(form: CampaignForm) -> tuple[str, str, str | None]:
    """Text, HTML and an error message for the form's current content."""
    try:
        draft = Draft(subject=form.subject.data or "", preheader=form.preheader.data or "",
                      body=form.body.data or "", template=form.template.data or "standard",
                      topics=services.resolve_topics(form.topics.data or []))
        services.validate_body(draft.body)
        text, html = render_preview(draft)
    except CampaignError as exc:
        return "", "", exc.message
    return text, html, None


# --- editor pages ----------------------------------------------------------------------

@bp.get("/admin/campaigns")
@editor_required
def list_campaigns():
    campaigns = db.session.scalars(select(Campaign).order_by(
        Campaign.created_at.desc(), Campaign.id.desc())).all()
    return render_template("campaigns/list.html", campaigns=campaigns,
                           progress={c.id: campaign_progress(c) for c in campaigns},
                           status_label=status_label, templates=TEMPLATES, S=S)


@bp.route("/admin/campaigns/new", methods=["GET", "POST"])
@editor_required
def new_campaign():
    form = with_segment_inputs(CampaignForm)()
    _topic_choices(form)
    if request.method == "GET":
        template = template_for(request.args.get("template"))
        form.template.data = template.id
        form.body.data = template.skeleton(current_app.config)
        return _page(None, form)
    if not form.validate():
        return _page(None, form, 422)
    try:
        segment = segments.clean_segment(segment_data(form))
        campaign = services.create_campaign(current_user, **_content(form))
        db.session.flush()
        segments.set_segment(campaign.id, segment)
        _publish(campaign, form.public.data)
    except CampaignError as exc:
        db.session.rollback()
        _report(form, exc)
        return _page(None, form, exc.status)
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_CREATED, campaign)
    db.session.commit()
    flash(_("Die Kampagne wurde als Entwurf gespeichert."), "success")
    return redirect(url_for(".edit_campaign", campaign_id=campaign.id), code=303)


@bp.route("/admin/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@editor_required
def edit_campaign(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    form = with_segment_inputs(CampaignForm)(obj=campaign)
    _topic_choices(form)
    if request.method == "GET":
        form.topics.data = [t.slug for t in campaign.topics]
        fill_segment(form, segments.segment_of(campaign.id))
        return _page(campaign, form)
    if not form.validate():
        return _page(campaign, form, 422)
    try:
        services.update_campaign(campaign, **_content(form))
        segments.set_segment(campaign.id, segments.clean_segment(segment_data(form)))
        _publish(campaign, form.public.data)
    except CampaignError as exc:
        db.session.rollback()
        _report(form, exc)
        return _page(campaign_or_404(campaign_id), form, exc.status)
    db.session.commit()
    flash(_("Die Änderungen wurden gespeichert."), "success")
    return redirect(url_for(".edit_campaign", campaign_id=campaign.id), code=303)


@bp.post("/admin/campaigns/preview")
@editor_required
def preview():
    """The live preview: the form's content rendered with sample data, as JSON."""
    form = CampaignForm()
    _topic_choices(form)
    form.topics.data = [slug for slug in form.topics.data or [] if slug in
                        dict(form.topics.choices)]
    text, html, error = _preview_of(form)
    if error:
        return jsonify({"error": {"code": "invalid_body", "message": error}}), 422
    return jsonify({"subject": form.subject.data or "", "text": text, "html": html})


def saved_page(campaign: Campaign, status: int, **forms):
    """The editor page with the saved content and one form's errors."""
    form = CampaignForm(obj=campaign, formdata=None)
    _topic_choices(form)
    form.topics.data = [t.slug for t in campaign.topics]
    return _page(campaign, form, status, **forms)


@bp.post("/admin/campaigns/<int:campaign_id>/schedule")
@editor_required
def schedule(campaign_id: int):
    """Send at a date and time given in Berlin time; stored as UTC."""
    campaign = campaign_or_404(campaign_id)
    schedule_form = ScheduleForm(prefix="schedule")
    if not schedule_form.validate():
        return saved_page(campaign, 422, schedule_form=schedule_form)
    send_at = schedule_form.send_at.data.replace(tzinfo=BERLIN)
    try:
        services.schedule(campaign, send_at)
    except CampaignError as exc:
        db.session.rollback()
        schedule_form.send_at.errors = [exc.message]
        return saved_page(campaign_or_404(campaign_id), exc.status,
                           schedule_form=schedule_form)
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_SCHEDULED, campaign)
    db.session.commit()
    when = berlin(campaign.send_at).strftime("%d.%m.%Y um %H:%M Uhr")
    flash(_("Die Kampagne wird am %(when)s versendet.", when=when), "success")
    return redirect(url_for(".edit_campaign", campaign_id=campaign.id), code=303)


def _transition(campaign_id: int, change, message: str):
    """A state change by button: CSRF-checked POST, service, commit, back to the page."""
    campaign = campaign_or_404(campaign_id)
    if not ButtonForm().validate():
        abort(400)
    try:
        result = change(campaign)
    except CampaignError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".edit_campaign", campaign_id=campaign_id), code=303)
    db.session.commit()
    flash(message, "success")
    target = result if isinstance(result, Campaign) else campaign
    return redirect(url_for(".edit_campaign", campaign_id=target.id), code=303)


@bp.post("/admin/campaigns/<int:campaign_id>/send-now")
@editor_required
def send_now(campaign_id: int):
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_SENT_NOW, campaign_id)
    return _transition(campaign_id, lambda c: services.schedule(c, None),
                       _("Der Versand beginnt jetzt."))


@bp.post("/admin/campaigns/<int:campaign_id>/pause")
@editor_required
def pause(campaign_id: int):
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_PAUSED, campaign_id)
    return _transition(campaign_id, services.pause, _("Die Kampagne ist pausiert."))


@bp.post("/admin/campaigns/<int:campaign_id>/resume")
@editor_required
def resume(campaign_id: int):
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_RESUMED, campaign_id)
    return _transition(campaign_id, services.resume, _("Die Kampagne wird fortgesetzt."))


@bp.post("/admin/campaigns/<int:campaign_id>/cancel")
@editor_required
def cancel(campaign_id: int):
    audit.record_campaign(current_user, audit.AuditAction.CAMPAIGN_CANCELLED, campaign_id)
    return _transition(campaign_id, services.cancel, _("Die Kampagne wurde abgebrochen."))


@bp.post("/admin/campaigns/<int:campaign_id>/duplicate")
@editor_required
def duplicate(campaign_id: int):
    def copy(campaign: Campaign) -> Campaign:
        duplicate = services.duplicate(campaign, current_user)
        db.session.flush()
        segments.copy_segment(campaign.id, duplicate.id)
        return duplicate

    return _transition(campaign_id, copy, _("Die Kopie ist ein neuer Entwurf."))


@bp.post("/admin/campaigns/<int:campaign_id>/rerender")
@editor_required
def rerender(campaign_id: int):
    """The archive copy rendered again on purpose (after the mail layout changed)."""
    return _transition(campaign_id, archive_copies.rerender,
                       _("Die Archivkopie wurde neu erstellt."))


@bp.post("/admin/campaigns/<int:campaign_id>/public")
@editor_required
def set_public(campaign_id: int):
    """Show or hide a campaign in the public archive (also after it was sent)."""
    campaign = campaign_or_404(campaign_id)
    form = PublicForm()
    if not form.validate():
        abort(400)
    _publish(campaign, form.public.data)
    db.session.commit()
    flash(_("Die Kampagne erscheint nach dem Versand im Archiv.") if campaign.public
          else _("Die Kampagne erscheint nicht im Archiv."), "success")
    return redirect(url_for(".edit_campaign", campaign_id=campaign.id), code=303)


# --- public archive --------------------------------------------------------------------
# Visitors read the stored archive copies (archive.py); nothing is rendered from Markdown
# here. Anonymous answers may be kept by browsers and proxies and are revalidated by
# ETag (the page's own hash) or Last-Modified (when the newest copy was rendered).

def _cached(body: str, last_modified, content_type: str | None = None):
    """An archive answer with validators; 304 when the visitor's copy is still good."""
    response = make_response(body)
    if content_type:
        response.content_type = content_type
    if current_user.is_authenticated or "lang" in request.args:
        response.cache_control.private = True  # an editor's page; or it sets a cookie
        response.cache_control.no_cache = True
    else:
        response.cache_control.public = True
        response.cache_control.max_age = current_app.config["ARCHIVE_CACHE_SECONDS"]
    response.vary.add("Cookie")  # the language is chosen by cookie
    response.last_modified = last_modified
    response.add_etag()
    return response.make_conditional(request)


def _newest_copy():
    """When the newest archive copy was rendered (the time of an empty archive: now)."""
    newest = db.session.scalar(archive_copies.published(func.max(ArchiveCopy.rendered_at)))
    return newest or utcnow()


@bp.get("/archive")
def archive():
    campaigns = db.session.scalars(archive_copies.published(Campaign).order_by(
        Campaign.finished_at.desc(), Campaign.id.desc())).all()
    return _cached(render_template("campaigns/archive.html", campaigns=campaigns),
                   _newest_copy())


@bp.get("/archive/<slug>")
def archived(slug: str):
    row = db.session.execute(archive_copies.published().where(Campaign.slug == slug)).first()
    campaign, copy = row or abort(404)
    # Links in the framed mail open outside the frame.
    html = copy.html.replace("<head>", '<head><base target="_blank">', 1)
    frame_mail_html()
    return _cached(render_template("campaigns/archived.html", campaign=campaign, html=html),
                   copy.rendered_at)


@bp.get("/archive/feed.xml")
def feed():
    """Atom feed of the archive, newest first."""
    rows = db.session.execute(archive_copies.published().order_by(
        Campaign.finished_at.desc(), Campaign.id.desc()).limit(30)).all()
    entries = [(campaign, copy.feed_html) for campaign, copy in rows]
    body = render_template("campaigns/feed.xml", entries=entries, now=utcnow(),
                           base=current_app.config["BASE_URL"])
    return _cached(body, _newest_copy(), "application/atom+xml; charset=utf-8")
