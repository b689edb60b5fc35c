"""The editor's campaign forms: content, test send, schedule, and bare action buttons."""

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form, MultiCheckboxField, single_line
from .rendering import TEMPLATES
from .services import TEST_RECIPIENTS_MAX


class CampaignForm(Form):
    subject = StringField(_l("Betreff"), validators=[
        DataRequired(_l("Bitte geben Sie einen Betreff an.")), Length(max=200), single_line])
    preheader = StringField(_l("Vorschautext"),
                            validators=[Optional(), Length(max=200), single_line])
    topics = MultiCheckboxField(_l("Zielgruppe"), validate_choice=True)
    template = RadioField(_l("Vorlage"), default="standard")
    body = TextAreaField(_l("Text (Markdown)"))
    public = BooleanField(_l("Nach dem Versand im öffentlichen Archiv zeigen"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.template.choices = [(t.id, t.label) for t in TEMPLATES.values()]


def split_addresses(value: str | None) -> list[str]:
    """Addresses separated by commas, semicolons or line breaks."""
    return [part.strip() for part in re.split(r"[,;\r\n]+", value or "") if part.strip()]


def at_most_five(form, field) -> None:
    addresses = split_addresses(field.data)
    if not addresses:
        raise ValidationError(_l("Bitte geben Sie mindestens eine Adresse an."))
    if len(addresses) > TEST_RECIPIENTS_MAX:
        raise ValidationError(_l("Ein Testversand geht an höchstens fünf Adressen."))


class TestSendForm(Form):
    emails = StringField(_l("Testversand an (höchstens fünf Adressen, mit Komma getrennt)"),
                         validators=[Length(max=1000), at_most_five])


class BerlinDateTimeField(DateTimeLocalField):
    """datetime-local input; a value it cannot read gets a German message."""

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Bitte geben Sie Datum und Uhrzeit vollständig an."))


class ScheduleForm(Form):
    send_at = BerlinDateTimeField(
        _l("Versand am (Uhrzeit in Deutschland)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[DataRequired(_l("Bitte wählen Sie Datum und Uhrzeit."))])


class PublicForm(Form):
    public = BooleanField(_l("Im öffentlichen Archiv zeigen"))
