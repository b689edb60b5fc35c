"""Form pieces shared by features."""

import functools

from babel.support import Translations
from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, ValidationError, widgets
from wtforms.i18n import messages_path

from .text import is_single_line


class Form(FlaskForm):
    """The base of every form: Flask-WTF's CSRF, WTForms' messages in the visitor's language.

    Flask-WTF reads WTForms' catalogue from disk on every request that builds a form;
    here it is read once per language."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _wtforms_catalogue(str(get_locale() or "de"))


@functools.cache
def _wtforms_catalogue(locale: str) -> Translations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class ButtonForm(Form):
    """A form that is only a button (confirm, unsubscribe, mark handled …): a CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes for one repeatable field (e.g. `topics`)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def single_line(form, field) -> None:
    """Refuse control characters (CR/LF, tabs …) in one-line fields such as names."""
    if field.data and not is_single_line(field.data):
        raise ValidationError(_l("Bitte nur eine Zeile ohne Steuerzeichen eingeben."))
