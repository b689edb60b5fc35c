"""Campaign content: Markdown with a few personal fields, compiled once per campaign.

INTERFACE (used by the delivery engine, preview and test send):

    fields = PersonalFields(name=..., email=..., unsubscribe_url=..., preferences_url=...)
    compiled = compile_campaign(campaign)          # once per campaign
    text, html = compiled.render(fields)           # per recipient, cheap
    compiled.subject, compiled.preheader           # plain strings

This first version is deliberately simple; it is replaced by the sandboxed,
sanitised, CSS-inlined renderer.
"""

from dataclasses import dataclass

from markupsafe import escape

from .models import Campaign


@dataclass(frozen=True)
class PersonalFields:
    name: str
    email: str
    unsubscribe_url: str
    preferences_url: str


@dataclass
class CompiledCampaign:
    campaign_id: int
    subject: str
    preheader: str
    body: str

    def render(self, fields: PersonalFields) -> tuple[str, str]:
        """(text, html) for one recipient."""
        text = self.body.replace("{{ name }}", fields.name)
        text += f"\n\n--\nAbmelden: {fields.unsubscribe_url}\n"
        text += f"Einstellungen: {fields.preferences_url}\n"
        html = f"<html><body><pre>{escape(text)}</pre></body></html>"
        return text, html


def compile_campaign(campaign: Campaign) -> CompiledCampaign:
    """Prepare a campaign for fast per-recipient rendering."""
    return CompiledCampaign(campaign.id, campaign.subject, campaign.preheader, campaign.body)
