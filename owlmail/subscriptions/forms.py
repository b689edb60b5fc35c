"""The subscription and preference forms."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, StringField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

from ..addresses import InvalidAddress, normalize_address
from ..formguard import GuardedForm
from ..forms import Form, MultiCheckboxField, single_line


def valid_address(form, field) -> None:
    """Validate with email-validator; the German message says what is wrong."""
    try:
        normalize_address(field.data)
    except InvalidAddress as exc:
        raise ValidationError(str(exc))


class SubscribeForm(GuardedForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse an.")),
                    Length(max=254), valid_address],
    )
    name = StringField(_l("Name (freiwillig)"), validators=[Optional(), Length(max=100),
                                                           single_line])
    topics = MultiCheckboxField(_l("Themen"), validate_choice=True)
    consent = BooleanField(validators=[DataRequired(
        _l("Bitte bestätigen Sie die Einwilligung, damit wir Ihnen schreiben dürfen."))])
    tracking = BooleanField()  # optional and unticked: the separate tracking consent


class PreferencesForm(Form):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100), single_line])
    topics = MultiCheckboxField(_l("Themen"), validate_choice=True)
    tracking = BooleanField()

