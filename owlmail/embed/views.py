"""GET /embed/form gives the snippet; POST /embed/subscribe takes it from the embedding
sites; GET /embed/next tells the person what happens next."""

from dataclasses import replace

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from ..extensions import csrf, db, limiter
from ..formguard import Verdict
from ..public.errors import error_response
from ..subscriptions import services as subscriptions
from ..subscriptions.consent import Evidence, current_version
from ..subscriptions.fields import services as fields
from ..subscriptions.fields.forms import given_values, with_field_inputs
from ..subscriptions.forms import SubscribeForm
from ..subscriptions.models import SubscriberStatus
from ..subscriptions.views import (
    _address_limit,
    _subscribe_limit,
    _target_address,
    tracking_choice,
)
from . import services
from .forms import EmbedForm

bp = Blueprint("embed", __name__, url_prefix="/embed")


def _topic_choices(form, slugs: list[str] | None = None) -> None:
    choices = subscriptions.topic_labels(subscriptions.topic_choices())
    form.topics.choices = [c for c in choices if not slugs or c[0] in slugs]


def offered_fields(keys: list[str] | None) -> list[fields.FieldDef]:
    """The fields named (in field order; unknown keys ignored), or the form's default."""
    if keys is None:
        return fields.form_fields()
    return [field for field in fields.all_fields() if field.key in keys]


def render_snippet(topics: list[str], field_keys: list[str] | None, page: str | None) -> str:
    """The HTML an editor pastes: a plain form, absolute addresses, scoped stylesheet."""
    offered = offered_fields(field_keys)
    form = with_field_inputs(EmbedForm, offered)(formdata=None)
    _topic_choices(form, topics)
    base = current_app.config["BASE_URL"]
    lang = str(get_locale() or "de")
    action = base + url_for("embed.subscribe", **({"lang": lang} if lang != "de" else {}))
    return render_template("embed/form.html", form=form, base=base, action=action,
                           page=services.plausible_page(page), lang=lang,
                           privacy_url=base + url_for("public.privacy"))


def _field_keys() -> list[str] | None:
    """?fields=key (repeatable) chooses the fields; ?fields= alone offers none."""
    if "fields" not in request.args:
        return None
    return [key for key in request.args.getlist("fields") if key]


@bp.get("/form")
def form():
    snippet = render_snippet(request.args.getlist("topics"), _field_keys(),
                             request.args.get("source"))
    return snippet, 200, {"Content-Type": "text/html; charset=utf-8"}


def _posted_form() -> EmbedForm:
    """The embedded form with the fields this snippet offered (their inputs were sent)."""
    offered = [field for field in fields.all_fields() if field.key in request.form]
    form = with_field_inputs(EmbedForm, offered)()
    _topic_choices(form)
    return form


def _next_step(page: str | None):
    lang = str(get_locale() or "de")
    values = {"back": page, **({"lang": lang} if lang != "de" else {})}
    return redirect(url_for(".next_step", **values), code=303)


@bp.post("/subscribe")
@csrf.exempt  # a form on another site cannot carry our token: the origin check stands in
@limiter.limit(_subscribe_limit)
@limiter.limit(_address_limit, key_func=_target_address)
def subscribe():
    origin = services.permitted_origin()
    if origin is None:
        return error_response(403, _("Dieses Formular wird nur von den freigegebenen Seiten "
                                     "von OWL morgen angenommen."), "origin")
    page = services.source_page(origin, request.form.get("source"))
    form = _posted_form()
    if form.verdict() == Verdict.BOT:
        return _next_step(page)  # looks like success
    if not form.validate():
        return _problems(form)
    evidence = replace(Evidence.from_request(), source_url=page)
    signup = subscriptions.request_subscription(
        form.email.data, form.name.data, form.topics.data or [], evidence, current_version(),
        tracking_choice(form))
    fields.take_signup(signup.id, signup.status == SubscriberStatus.CONFIRMED,
                       given_values(form), form_fields_of(form), evidence)
    db.session.commit()
    return _next_step(page)


def form_fields_of(form) -> list[fields.FieldDef]:
    keys = getattr(form, "subscriber_field_keys", [])
    return [field for field in fields.all_fields() if field.key in keys]


def _problems(embedded: EmbedForm):
    """Invalid input: the landing page's form on this site, filled in, errors marked."""
    form = with_field_inputs(SubscribeForm, fields.form_fields())(
        formdata=None, data={k: v for k, v in embedded.data.items() if k != "form_ts"})
    _topic_choices(form)
    for field in embedded:
        if field.name in form:
            form[field.name].errors = list(field.errors)
    return render_template("subscriptions/index.html", form=form), 400


@bp.get("/next")
def next_step():
    return render_template("subscriptions/check_mail.html",
                           back_url=services.back_url(request.args.get("back")))
