"""The public contact form: write to the team, get a thank-you page, nothing else."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ..extensions import db, limiter
from ..formguard import Verdict
from ..subscriptions.services import topic_labels
from . import services
from .forms import ContactForm

bp = Blueprint("contact", __name__)


def _contact_limit() -> str:
    return current_app.config["CONTACT_RATE_LIMIT"]


def _form() -> ContactForm:
    form = ContactForm()
    form.topic.choices = topic_labels(services.topic_choices())
    return form


def _show(form: ContactForm, status: int = 200):
    return render_template("contact/form.html", form=form), status


@bp.get("/contact")
def contact():
    """The form; ?topic=<slug> preselects a topic (a newsletter's call to action)."""
    form = _form()
    wanted = request.args.get("topic", "")
    if wanted in {value for value, _label in form.topic.choices}:
        form.topic.data = wanted
    return _show(form)


@bp.post("/contact")
@limiter.limit(_contact_limit)
def send():
    form = _form()
    verdict = form.judge()
    if verdict == Verdict.BOT:
        return redirect(url_for(".thanks"), code=303)  # looks like success, stores nothing
    if verdict != Verdict.HUMAN:
        return _show(form, 400)
    services.submit_message(form.name.data, form.email.data, form.topic.data,
                            form.message.data)
    db.session.commit()
    return redirect(url_for(".thanks"), code=303)


@bp.get("/contact/danke")
def thanks():
    return render_template("contact/thanks.html")
