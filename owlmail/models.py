"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from .auth.models import ApiToken, Editor, Role
from .campaigns.models import ArchiveCopy, Campaign, CampaignStatus
from .contact.models import ContactMessage, ContactStatus
from .delivery.models import Delivery, DeliveryStatus, SendPace, SendStamp
from .jobruns import JobRun
from .outbox.models import OutboxMail, OutboxStatus
from .subscriptions.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)

__all__ = [
    "ApiToken", "ArchiveCopy", "Campaign", "CampaignStatus", "ConsentEvent", "ConsentText",
    "ContactMessage", "ContactStatus", "Delivery", "DeliveryStatus", "Editor", "JobRun",
    "OutboxMail", "OutboxStatus", "Role", "SendPace", "SendStamp", "Subscriber",
    "SubscriberStatus", "Suppression", "Topic",
]
