"""`flask --app owlmail campaigns rerender [ID]`: the archive copies rendered again."""

import click
from flask.cli import with_appcontext

from ..extensions import db
from . import archive
from .models import Campaign
from .services import CampaignError


@click.group("campaigns")
def campaigns_group() -> None:
    """Campaigns: the archive copies of sent issues."""


@campaigns_group.command("rerender")
@click.argument("campaign_id", type=int, required=False)
@with_appcontext
def rerender_command(campaign_id: int | None) -> None:
    """Render the archive copy of campaign ID again (without ID: of every started one),
    e.g. after the mail layout changed. Visitors never trigger a rendering."""
    if campaign_id is None:
        count = archive.rerender_all()
    else:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None:
            raise click.ClickException(f"Keine Kampagne mit der Nummer {campaign_id}.")
        try:
            archive.rerender(campaign)
        except CampaignError as exc:
            raise click.ClickException(exc.message)
        count = 1
    db.session.commit()
    click.echo(f"Archivkopien neu erstellt: {count}.")
