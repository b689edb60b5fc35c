"""Forms of the admin pages: import upload, erase confirmation, topics."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import Form, single_line


class ImportForm(Form):
    file = FileField(_l("CSV-Datei (UTF-8)"), validators=[
        FileRequired(_l("Bitte wählen Sie eine CSV-Datei aus."))])


class EraseForm(Form):
    sure = BooleanField(_l("Ja, alle Daten dieser Person endgültig löschen."), validators=[
        DataRequired(_l("Bitte bestätigen Sie das Löschen mit dem Häkchen."))])


class TopicForm(Form):
    slug = StringField(_l("Kürzel (für Links und API, z. B. „ki“)"), validators=[
        DataRequired(_l("Bitte geben Sie ein Kürzel an.")), Length(max=64), single_line])
    name = StringField(_l("Name"), validators=[
        DataRequired(_l("Bitte geben Sie einen Namen an.")), Length(max=120), single_line])


class RenameForm(Form):
    name = StringField(_l("Neuer Name"), validators=[
        DataRequired(_l("Bitte geben Sie einen Namen an.")), Length(max=120), single_line])

