"""CampaignError and the German names of the states it speaks of."""

from flask_babel import gettext as _

from .models import Campaign, CampaignStatus

S = CampaignStatus


class CampaignError(Exception):
    """A campaign request that cannot be fulfilled; the message is German."""

    def __init__(self, message: str, status: int = 409, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or {409: "conflict", 413: "too_large", 404: "not_found"}.get(
            status, "invalid")

    @classmethod
    def invalid(cls, message: str, code: str = "invalid") -> "CampaignError":
        return cls(message, 422, code)

    @classmethod
    def wrong_state(cls, campaign: Campaign, action: str) -> "CampaignError":
        return cls(_("Eine Kampagne im Zustand „%(status)s“ kann nicht %(action)s werden.",
                     status=status_label(campaign.status), action=action), 409, "wrong_state")


def status_label(status: CampaignStatus) -> str:
    """The German name of a campaign status."""
    return {
        S.DRAFT: _("Entwurf"), S.SCHEDULED: _("geplant"), S.SENDING: _("wird versendet"),
        S.PAUSED: _("pausiert"), S.SENT: _("versendet"), S.CANCELLED: _("abgebrochen"),
    }[status]
