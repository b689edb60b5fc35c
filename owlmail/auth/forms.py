"""Login, password change and the admins' form for new editor accounts."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..forms import Form, single_line
from ..subscriptions.forms import valid_address
from .models import Role

PASSWORD_MIN = 10


def _new_password_fields():
    """The new password twice, with the same length rule as everywhere."""
    first = PasswordField(_l("Neues Passwort"), validators=[
        DataRequired(_l("Bitte geben Sie ein neues Passwort an.")),
        Length(min=PASSWORD_MIN, max=1000,
               message=_l("Das Passwort muss mindestens 10 Zeichen lang sein."))])
    second = PasswordField(_l("Neues Passwort wiederholen"), validators=[
        DataRequired(_l("Bitte wiederholen Sie das neue Passwort.")),
        EqualTo("new_password", _l("Die beiden neuen Passwörter stimmen nicht überein."))])
    return first, second


class LoginForm(Form):
    email = EmailField(_l("E-Mail-Adresse"), validators=[
        DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse an.")), Length(max=320)])
    password = PasswordField(_l("Passwort"), validators=[
        DataRequired(_l("Bitte geben Sie Ihr Passwort an.")), Length(max=1000)])
    next = HiddenField()


class PasswordForm(Form):
    old_password = PasswordField(_l("Bisheriges Passwort"), validators=[
        DataRequired(_l("Bitte geben Sie Ihr bisheriges Passwort an."))])
    new_password, new_password2 = _new_password_fields()


class EditorForm(Form):
    email = EmailField(_l("E-Mail-Adresse"), validators=[
        DataRequired(_l("Bitte geben Sie eine E-Mail-Adresse an.")), Length(max=254),
        valid_address])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), single_line])
    role = SelectField(_l("Rolle"), choices=[
        SelectChoice(Role.EDITOR.value, _l("Redaktion (Kampagnen, Abonnenten lesen)")),
        SelectChoice(Role.ADMIN.value, _l("Administration (auch Konten, Themen, Löschen)"))])
    password = PasswordField(_l("Erstes Passwort"), validators=[
        DataRequired(_l("Bitte vergeben Sie ein erstes Passwort.")),
        Length(min=PASSWORD_MIN, max=1000,
               message=_l("Das Passwort muss mindestens 10 Zeichen lang sein."))])



class CodeForm(Form):
    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Bitte geben Sie den Code aus Ihrer App oder einen "
                        "Wiederherstellungscode ein.")), Length(max=32)])


class ResetRequestForm(Form):
    email = EmailField(_l("E-Mail-Adresse"), validators=[
        DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse an.")), Length(max=320),
        single_line])


class ResetForm(Form):
    new_password, new_password2 = _new_password_fields()


class TokenForm(Form):
    name = StringField(_l("Wofür ist das Token?"), validators=[
        DataRequired(_l("Bitte geben Sie dem Token einen Namen.")), Length(max=100),
        single_line])
    expires_on = DateField(_l("Gültig bis (optional)"), validators=[Optional()])
