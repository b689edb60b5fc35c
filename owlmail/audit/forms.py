"""The filters of the audit page (a GET form: no CSRF token needed to read)."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from ..forms import Form, single_line
from .models import AuditAction

ACTION_LABELS = {
    AuditAction.LOGIN: _l("Anmeldung"),
    AuditAction.LOGIN_FAILED: _l("Anmeldung fehlgeschlagen"),
    AuditAction.SESSION_ENDED: _l("Anmeldung beendet"),
    AuditAction.PASSWORD_CHANGED: _l("Passwort geändert"),
    AuditAction.PASSWORD_RESET_SENT: _l("Link zum Zurücksetzen verschickt"),
    AuditAction.PASSWORD_RESET: _l("Passwort zurückgesetzt"),
    AuditAction.TWO_FACTOR_ON: _l("Zwei-Faktor-Anmeldung eingeschaltet"),
    AuditAction.TWO_FACTOR_OFF: _l("Zwei-Faktor-Anmeldung zurückgesetzt"),
    AuditAction.RECOVERY_CODES: _l("Neue Wiederherstellungscodes"),
    AuditAction.CAMPAIGN_CREATED: _l("Kampagne angelegt"),
    AuditAction.CAMPAIGN_SCHEDULED: _l("Kampagne geplant"),
    AuditAction.CAMPAIGN_SENT_NOW: _l("Kampagne sofort versendet"),
    AuditAction.CAMPAIGN_PAUSED: _l("Versand angehalten"),
    AuditAction.CAMPAIGN_RESUMED: _l("Versand fortgesetzt"),
    AuditAction.CAMPAIGN_CANCELLED: _l("Kampagne abgebrochen"),
    AuditAction.TEST_SENT: _l("Testversand"),
    AuditAction.IMPORT: _l("Import"),
    AuditAction.EXPORT: _l("Export"),
    AuditAction.ERASED: _l("Person gelöscht"),
    AuditAction.TOPIC_CHANGED: _l("Thema geändert"),
    AuditAction.FIELD_CHANGED: _l("Feld geändert"),
    AuditAction.EDITOR_CREATED: _l("Konto angelegt"),
    AuditAction.EDITOR_DEACTIVATED: _l("Konto deaktiviert"),
    AuditAction.EDITOR_REACTIVATED: _l("Konto wieder aktiviert"),
    AuditAction.TOKEN_CREATED: _l("API-Token angelegt"),
    AuditAction.TOKEN_REVOKED: _l("API-Token widerrufen"),
    AuditAction.AUDIT_EXPORTED: _l("Protokoll exportiert"),
}


def action_label(action: str) -> str:
    """The words for an action; an unknown one as stored."""
    try:
        return str(ACTION_LABELS[AuditAction(action)])
    except (ValueError, KeyError):
        return action


class AuditFilterForm(Form):
    class Meta:
        csrf = False

    actor = StringField(_l("Wer (Adresse enthält)"), validators=[
        Optional(), Length(max=320), single_line])
    action = SelectField(_l("Aktion"), validators=[Optional()], choices=[
        SelectChoice("", _l("alle")),
        *[SelectChoice(action.value, label) for action, label in ACTION_LABELS.items()]])
    since = DateField(_l("Von"), validators=[Optional()])
    until = DateField(_l("Bis"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100_000)])
