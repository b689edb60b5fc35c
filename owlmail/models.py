"""Imports every model so the metadata (and Alembic) sees the whole schema."""

from .audit.models import AuditEntry
from .auth.models import ApiToken, Editor, EditorSession, RecoveryCode, Role
from .campaigns.models import ArchiveCopy, Campaign, CampaignLink, CampaignStatus
from .contact.models import ContactMessage, ContactStatus
from .delivery.models import Delivery, DeliveryStatus, SendPace, SendStamp
from .events import CampaignEvent
from .jobruns import JobRun
from .outbox.models import OutboxMail, OutboxStatus
from .subscriptions.fields.models import (
    FieldKind,
    FieldOption,
    FieldValue,
    SegmentValue,
    SubscriberField,
)
from .subscriptions.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
)
from .tracking.models import LinkCount, ReaderActivity

__all__ = [
    "ApiToken", "ArchiveCopy", "AuditEntry", "Campaign", "CampaignEvent", "CampaignLink",
    "CampaignStatus", "ConsentEvent", "ConsentText", "ContactMessage", "ContactStatus",
    "Delivery", "DeliveryStatus", "Editor", "EditorSession", "FieldKind", "FieldOption",
    "FieldValue", "JobRun", "LinkCount", "OutboxMail", "OutboxStatus", "ReaderActivity",
    "RecoveryCode", "Role", "SegmentValue", "SendPace", "SendStamp", "Subscriber",
    "SubscriberField", "SubscriberStatus", "Suppression", "Topic",
]
