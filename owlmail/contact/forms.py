"""The public contact form and the editors' small forms."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length

from ..formguard import GuardedForm
from ..forms import single_line
from ..subscriptions.forms import valid_address

NAME_MAX_LENGTH = 200


def message_length(form, field) -> None:
    """At most CONTACT_MESSAGE_MAX_LENGTH characters; the message names the limit."""
    limit = current_app.config["CONTACT_MESSAGE_MAX_LENGTH"]
    if field.data and len(field.data) > limit:
        raise ValidationError(_(
            "Ihre Nachricht ist zu lang (%(length)s Zeichen). Bitte fassen Sie sich auf "
            "höchstens %(limit)s Zeichen.", length=len(field.data), limit=limit))


def known_topic(form, field) -> None:
    """Empty, or one of the topics offered (never a free string that could reach a header)."""
    if field.data and field.data not in {value for value, _ in field.choices}:
        raise ValidationError(_l("Bitte wählen Sie ein Thema aus der Liste."))


class ContactForm(GuardedForm):
    name = StringField(_l("Ihr Name"), validators=[
        DataRequired(_l("Bitte geben Sie Ihren Namen an.")),
        Length(max=NAME_MAX_LENGTH, message=_l("Der Name darf höchstens 200 Zeichen lang sein.")),
        single_line,
    ])
    email = EmailField(_l("Ihre E-Mail-Adresse"), validators=[
        DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse an, damit wir antworten können.")),
        single_line, valid_address,
    ])
    topic = SelectField(_l("Thema (freiwillig)"), validate_choice=False, validators=[known_topic])
    message = TextAreaField(_l("Ihre Nachricht oder Idee"), validators=[
        DataRequired(_l("Bitte schreiben Sie uns Ihre Nachricht.")), message_length,
    ])
    consent = BooleanField(validators=[DataRequired(
        _l("Bitte bestätigen Sie, dass wir Ihre Angaben dafür verwenden dürfen."))])

