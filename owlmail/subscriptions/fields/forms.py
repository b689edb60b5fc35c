"""Subscriber fields as form inputs (named by key) on the sign-up and preferences forms,
and the admin's form to define a field."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from ...forms import Form, MultiCheckboxField, single_line
from .models import FieldKind
from .services import TEXT_MAX_LENGTH, FieldDef, all_fields, form_fields

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


def _input(field: FieldDef):
    """One WTForms field for a subscriber field, labelled in the visitor's language."""
    if field.kind == FieldKind.CHOICE:
        empty = _("– bitte wählen –") if field.required else _("– keine Angabe –")
        checks = [InputRequired(_("Bitte wählen Sie eine Angabe."))] if field.required else []
        choices = [SelectChoice(value, label) for value, label in [("", empty),
                                                                    *field.choices()]]
        return SelectField(field.label, choices=choices,
                           validators=[*checks, _known_choice(field)], validate_choice=False)
    checks = [DataRequired(_("Bitte füllen Sie dieses Feld aus."))] if field.required \
        else [Optional()]
    return StringField(field.label, validators=[*checks, Length(max=TEXT_MAX_LENGTH),
                                                single_line])


def _known_choice(field: FieldDef):
    """Refuse a value the field does not offer (German message)."""
    def check(form, input_) -> None:
        if input_.data and not field.allows(input_.data):
            raise ValidationError(_("Bitte wählen Sie einen der angebotenen Werte."))
    return check


def with_field_inputs(form_cls: type[Form], fields: list[FieldDef]) -> type[Form]:
    """The form class with one input per subscriber field, named by the field's key."""
    if not fields:
        return form_cls
    inputs = {field.key: _input(field) for field in fields}
    return type(form_cls.__name__, (form_cls,), {**inputs, "subscriber_field_keys":
                                                 [field.key for field in fields]})


def field_inputs(form: Form) -> list:
    """The form's subscriber-field inputs in field order (for the templates)."""
    return [form[key] for key in getattr(form, "subscriber_field_keys", [])]


def given_values(form: Form) -> dict[str, str]:
    """{key: value} the person filled in (empty answers left out)."""
    return {key: form[key].data.strip() for key in getattr(form, "subscriber_field_keys", [])
            if form[key].data and form[key].data.strip()}


class FieldForm(Form):
    """An admin defines (or changes) a field."""

    key = StringField(_l("Schlüssel (Eingabe- und CSV-Spaltenname)"), validators=[
        DataRequired(_l("Bitte geben Sie einen Schlüssel an.")),
        Regexp(KEY_PATTERN, message=_l("Kleinbuchstaben, Ziffern und _, beginnend mit einem "
                                       "Buchstaben, höchstens 32 Zeichen."))])
    kind = RadioField(_l("Art"), choices=[SelectChoice("choice", _l("Auswahl")),
                                          SelectChoice("text", _l("kurzer Text"))],
                      default="choice")
    label_de = StringField(_l("Bezeichnung (deutsch)"), validators=[
        DataRequired(_l("Bitte geben Sie eine Bezeichnung an.")), Length(max=120), single_line])
    label_en = StringField(_l("Bezeichnung (englisch)"),
                           validators=[Optional(), Length(max=120), single_line])
    options = TextAreaField(_l("Auswahlwerte, einer je Zeile: wert | deutsch | englisch"),
                            validators=[Optional(), Length(max=5000)])
    required = BooleanField(_l("Pflichtangabe"))
    on_form = BooleanField(_l("Im Anmeldeformular und in den Einstellungen zeigen"),
                           default=True)


def form_with_fields(form_cls: type[Form], fields: list[FieldDef] | None = None, **kwargs):
    """An instance of form_cls with the inputs of the given fields (default: those shown
    on the form)."""
    return with_field_inputs(form_cls, form_fields() if fields is None else fields)(**kwargs)


# --- campaign editor: the segment ------------------------------------------

SEGMENT_PREFIX = "segment_"


def with_segment_inputs(form_cls: type[Form]) -> type[Form]:
    """The campaign form with one group of checkboxes per choice field (segment_<key>)."""
    choice_fields = [field for field in all_fields() if field.kind == FieldKind.CHOICE]
    inputs = {SEGMENT_PREFIX + field.key: MultiCheckboxField(
        field.label, choices=[SelectChoice(value, label) for value, label in field.choices()],
        validate_choice=True) for field in choice_fields}
    return type(form_cls.__name__, (form_cls,), {**inputs, "segment_keys": [
        field.key for field in choice_fields]})


def segment_inputs(form: Form) -> list:
    """The segment's checkbox groups in field order (for the template)."""
    return [form[SEGMENT_PREFIX + key] for key in getattr(form, "segment_keys", [])]


def segment_data(form: Form) -> dict[str, list[str]]:
    """{field key: [values]} the editor ticked (fields without a tick left out)."""
    return {key: form[SEGMENT_PREFIX + key].data for key in getattr(form, "segment_keys", [])
            if form[SEGMENT_PREFIX + key].data}


def fill_segment(form: Form, segment: dict[str, list[str]]) -> None:
    """Tick a stored segment's values."""
    for key in getattr(form, "segment_keys", []):
        form[SEGMENT_PREFIX + key].data = segment.get(key, [])
