"""Public subscription pages: sign up, confirm, change preferences, leave."""

import hashlib

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from ..addresses import InvalidAddress, normalize_address
from ..extensions import csrf, db, limiter
from ..formguard import Verdict
from ..forms import ButtonForm
from ..tokens import Purpose, TokenError
from . import services
from .consent import Evidence, current_version, tracking_version
from .fields import services as fields
from .fields.forms import form_with_fields, given_values
from .forms import PreferencesForm, SubscribeForm
from .models import SubscriberStatus

bp = Blueprint("subscriptions", __name__)


def _topic_choices(form) -> None:
    form.topics.choices = services.topic_labels(services.topic_choices())


def _target_address() -> str:
    """Rate-limit key for the address being signed up (not the visitor's IP).

    An address that does not parse reaches no mailbox; it is counted by what was typed,
    so one bot's garbage does not use up the attempts of everyone who mistypes."""
    raw = request.form.get("email", "")
    try:
        return "address:" + normalize_address(raw)[1]
    except InvalidAddress:
        typed = hashlib.sha256(raw.strip().lower().encode(errors="replace")).hexdigest()
        return "address-invalid:" + typed  # a hash: bounded key length, whatever was sent


def _subscribe_limit() -> str:
    return current_app.config["SUBSCRIBE_RATE_LIMIT"]


def _address_limit() -> str:
    return current_app.config["SUBSCRIBE_ADDRESS_RATE_LIMIT"]


@bp.get("/")
def index():
    form = form_with_fields(SubscribeForm)
    _topic_choices(form)
    return render_template("subscriptions/index.html", form=form)


@bp.post("/subscribe")
@limiter.limit(_subscribe_limit)
@limiter.limit(_address_limit, key_func=_target_address)
def subscribe():
    form = form_with_fields(SubscribeForm)
    _topic_choices(form)
    verdict = form.judge()
    if verdict == Verdict.BOT:
        return render_template("subscriptions/check_mail.html")  # looks like success
    if verdict != Verdict.HUMAN:
        return render_template("subscriptions/index.html", form=form), 400
    evidence = Evidence.from_request()
    signup = services.request_subscription(
        form.email.data, form.name.data, form.topics.data or [], evidence, current_version(),
        tracking_choice(form),
    )
    fields.take_signup(signup.id, signup.status == SubscriberStatus.CONFIRMED,
                       given_values(form), fields.form_fields(), evidence)
    db.session.commit()
    return render_template("subscriptions/check_mail.html")


def tracking_choice(form) -> services.TrackingChoice:
    """The optional tracking box of a sign-up form, with the wording shown next to it."""
    given = bool(form.tracking.data)
    return services.TrackingChoice(given, tracking_version() if given else None)


def _token_problem(exc: TokenError, action: str):
    status = 400 if exc.reason == "invalid" else 410
    return render_template("subscriptions/token_problem.html", reason=exc.reason,
                           action=action), status


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows a button (mail scanners fetch links); only the POST confirms."""
    try:
        if request.method == "GET":
            subscriber = services.subscriber_for_confirmation(token)
            return render_template("subscriptions/confirm.html", form=ButtonForm(),
                                   subscriber=subscriber)
        subscriber = services.confirm(token, Evidence.from_request())  # CSRF checked globally
    except TokenError as exc:
        return _token_problem(exc, "confirm")
    db.session.commit()
    return render_template("subscriptions/confirmed.html", subscriber=subscriber,
                           topic_names=[services.topic_label(t.name) for t in subscriber.topics],
                           preferences_url=services.preferences_url(subscriber))


def _is_one_click() -> bool:
    """RFC 8058: a POST whose body carries List-Unsubscribe=One-Click."""
    return request.form.get("List-Unsubscribe") == "One-Click"


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the RFC 8058 POST comes without cookie or token; the page form is checked below
def unsubscribe(token: str):
    try:
        subscriber, campaign_id = services.link_holder(Purpose.UNSUBSCRIBE, token)
    except TokenError as exc:
        return _token_problem(exc, "unsubscribe")
    if request.method == "GET":
        form = PreferencesForm(obj=subscriber)
        _topic_choices(form)
        form.topics.data = [t.slug for t in subscriber.topics]
        preferences_token = services.link_token(Purpose.PREFERENCES, subscriber)
        return render_template("subscriptions/unsubscribe.html", subscriber=subscriber,
                               form=form, button=ButtonForm(), token=token,
                               preferences_token=preferences_token)
    if _is_one_click():
        services.unsubscribe(subscriber, Evidence.from_request(), "one-click", campaign_id)
        db.session.commit()
        return "Sie wurden abgemeldet. / You have been unsubscribed.\n", 200, {
            "Content-Type": "text/plain; charset=utf-8"}
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError):
        return render_template("errors/error.html", status=400, message=_(
            "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu.")), 400
    services.unsubscribe(subscriber, Evidence.from_request(), "page", campaign_id)
    db.session.commit()
    return render_template("subscriptions/unsubscribed.html")


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    try:
        subscriber = services.subscriber_for_link(Purpose.PREFERENCES, token)
    except TokenError as exc:
        return _token_problem(exc, "preferences")
    form = form_with_fields(PreferencesForm, obj=subscriber,
                            data=fields.values_of(subscriber.id))
    _topic_choices(form)
    status = 200
    if request.method == "GET":
        form.topics.data = [t.slug for t in subscriber.topics]
    elif form.validate():
        services.update_preferences(subscriber, form.name.data, form.topics.data or [],
                                    Evidence.from_request())
        if request.form.get("tracking_offered"):  # not the unsubscribe page's short form
            given = bool(form.tracking.data)
            services.set_tracking(subscriber, given, tracking_version() if given else None,
                                  Evidence.from_request())
        fields.change_values(subscriber.id, given_values(form), fields.form_fields(),
                             Evidence.from_request())
        db.session.commit()
        return redirect(url_for(".preferences", token=token, saved=1), code=303)
    else:
        status = 400
    return render_template(
        "subscriptions/preferences.html", form=form, subscriber=subscriber, token=token,
        saved=request.args.get("saved") == "1",
        unsubscribe_url=services.unsubscribe_url(subscriber),
    ), status
