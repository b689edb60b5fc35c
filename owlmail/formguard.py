"""Bot defences shared by the public forms: a honeypot and a signed minimum fill time."""

import enum

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField

from .forms import Form
from .tokens import Purpose, TokenError, load_with_age, sign


class Verdict(enum.Enum):
    HUMAN = "human"
    BOT = "bot"  # honeypot filled: answer as if all went well, do nothing
    TOO_FAST = "too_fast"  # sent back faster than FORM_MIN_SECONDS, or stamp missing/forged
    INVALID = "invalid"  # a person, but a field is wrong


def form_stamp() -> str:
    """A signed timestamp the form carries; its age is checked when it comes back."""
    return sign(Purpose.FORM_TIME, "form")


class GuardedForm(Form):
    """A public form with a honeypot field and a signed render time."""

    # Named like a field a bot wants to fill; hidden from people by CSS and aria.
    website = StringField(_l("Webseite (bitte leer lassen)"))
    form_ts = HiddenField(default=form_stamp)

    def verdict(self) -> Verdict:
        """Judge whether a person filled the form."""
        if self.website.data:
            return Verdict.BOT
        try:
            _, age = load_with_age(Purpose.FORM_TIME, self.form_ts.data or "")
        except TokenError:
            return Verdict.TOO_FAST
        if age < current_app.config["FORM_MIN_SECONDS"]:
            return Verdict.TOO_FAST
        return Verdict.HUMAN

    def judge(self) -> Verdict:
        """The verdict with the fields validated. BOT: answer as if all went well, do
        nothing. TOO_FAST, INVALID: show the form again (400), restamped, saying why."""
        verdict = self.verdict()
        if verdict == Verdict.BOT:
            return verdict
        if verdict == Verdict.TOO_FAST:
            self.form_errors.append(_("Das ging sehr schnell. Bitte prüfen Sie Ihre Angaben "
                                      "und senden Sie das Formular noch einmal."))
        elif self.validate():
            return Verdict.HUMAN
        else:
            verdict = Verdict.INVALID
        self.restamp()
        return verdict

    def restamp(self) -> None:
        """Give the re-rendered form a fresh timestamp."""
        self.form_ts.data = form_stamp()
