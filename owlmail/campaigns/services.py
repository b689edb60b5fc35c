"""Campaign state machine: draft → scheduled → sending ⇄ paused → sent / cancelled.

INTERFACE (used by the editor pages, the JSON API and the delivery engine). Services
never commit; they raise CampaignError (message in German, shown as 4xx).

    create_campaign(editor, subject=..., body=..., topics=[Topic], template=None,
                    preheader="") -> Campaign
    update_campaign(campaign, **changes) -> Campaign        # draft / scheduled only
    validate_body(body) -> None                             # raises CampaignError naming
                                                            # a refused expression
    schedule(campaign, send_at: datetime | None) -> None    # aware datetime, None = now
    pause(campaign), resume(campaign), cancel(campaign), duplicate(campaign, editor)
    send_test(campaign, emails: list[str]) -> None          # queued through the outbox

The first version is filled in by the campaigns work.
"""


class CampaignError(Exception):
    """A campaign request that cannot be fulfilled; the message is German."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message = message
        self.status = status
