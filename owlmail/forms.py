"""Form pieces shared by features."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, ValidationError, widgets


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes for one repeatable field (e.g. `topics`)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def single_line(form, field) -> None:
    """Refuse control characters (CR/LF, tabs …) in one-line fields such as names."""
    if field.data and any(not ch.isprintable() for ch in field.data):
        raise ValidationError(_l("Bitte nur eine Zeile ohne Steuerzeichen eingeben."))
