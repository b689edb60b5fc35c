"""The embedded sign-up form: the landing page's form without CSRF token and fill time."""

from ..formguard import Verdict
from ..subscriptions.forms import SubscribeForm


class EmbedForm(SubscribeForm):
    """Posted from another site: no CSRF token (the origin check stands in), no signed
    fill time (static HTML in a CMS cannot carry a fresh one); the honeypot stays."""

    class Meta:
        csrf = False

    def verdict(self) -> Verdict:
        """A bot when the honeypot is filled; the origin and rate limits do the rest."""
        return Verdict.BOT if self.website.data else Verdict.HUMAN
