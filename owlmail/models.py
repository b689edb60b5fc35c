"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from .audit.models import AuditEntry
from .auth.models import ApiToken, Editor, EditorSession, RecoveryCode, Role
from .campaigns.models import Campaign, CampaignStatus
from .contact.models import ContactMessage, ContactStatus
from .delivery.models import Delivery, DeliveryStatus
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
    "ApiToken", "AuditEntry", "Campaign", "CampaignStatus", "ConsentEvent", "ConsentText",
    "ContactMessage", "ContactStatus", "Delivery", "DeliveryStatus", "Editor", "EditorSession",
    "OutboxMail", "OutboxStatus", "RecoveryCode", "Role", "Subscriber", "SubscriberStatus",
    "Suppression", "Topic",
]
