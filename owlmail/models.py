"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from .auth.models import ApiToken, Editor, Role
from .campaigns.models import Campaign, CampaignStatus
from .contact.models import ContactMessage, ContactStatus
from .delivery.models import Delivery, DeliveryStatus
from .events import CampaignEvent
from .mailing.models import OutboxMail, OutboxStatus
from .subscriptions.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)

__all__ = [
    "ApiToken", "Campaign", "CampaignEvent", "CampaignStatus", "ConsentEvent", "ConsentText",
    "ContactMessage", "ContactStatus", "Delivery", "DeliveryStatus", "Editor", "OutboxMail",
    "OutboxStatus", "Role", "Subscriber", "SubscriberStatus", "Suppression", "Topic",
]
