"""How far a running campaign is: counts, rate and expected end, from its counters."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..timeutil import utcnow
from .models import Campaign


@dataclass(frozen=True)
class Progress:
    recipients: int
    sent: int
    failed: int
    skipped: int
    pending: int
    rate_per_minute: float | None  # sent per minute since the start
    expected_end: datetime | None  # naive UTC, while sending

    def as_stats(self) -> dict[str, int]:
        """The API's `stats` object."""
        return {"recipients": self.recipients, "sent": self.sent,
                "failed": self.failed, "pending": self.pending}


def campaign_progress(campaign: Campaign, now: datetime | None = None) -> Progress:
    """Progress of a campaign; rate and expected end only once it has sent something."""
    now = now or utcnow()
    rate = expected_end = None
    if campaign.started_at and campaign.sent_count:
        elapsed = max((campaign.finished_at or now) - campaign.started_at, timedelta(seconds=1))
        rate = campaign.sent_count / elapsed.total_seconds() * 60
        if campaign.pending_count and not campaign.finished_at:
            expected_end = now + timedelta(minutes=campaign.pending_count / rate)
    return Progress(campaign.recipients_count, campaign.sent_count, campaign.failed_count,
                    campaign.skipped_count, campaign.pending_count, rate, expected_end)
