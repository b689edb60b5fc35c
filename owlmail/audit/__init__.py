"""The audit log: who did what, when. `record(actor, action, target)` in a view, before its
commit; the entry is written with the change or not at all. E.g.

    audit.record(current_user, audit.AuditAction.FIELD_CHANGED, audit.field_target(key))
"""

from .models import AuditAction
from .services import (
    campaign_target,
    editor_target,
    field_target,
    record,
    record_apart,
    record_campaign,
    schedule_action,
    subscriber_target,
    token_target,
    topic_changed,
    topic_target,
)

__all__ = ["AuditAction", "campaign_target", "editor_target", "field_target", "record",
           "record_apart", "record_campaign", "schedule_action", "subscriber_target",
           "token_target", "topic_changed", "topic_target"]
