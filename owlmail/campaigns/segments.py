"""Segments: a campaign's audience narrowed by subscriber fields. For each choice field in
the segment a subscriber must have one of its values; every field must match."""

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import delete, exists, func, insert, intersect, select

from ..extensions import db
from ..subscriptions.fields.models import FieldKind, FieldValue, SegmentValue
from ..subscriptions.fields.services import FieldDef, all_fields, field_by_key
from ..subscriptions.models import Subscriber, SubscriberStatus, subscriber_topics
from .errors import CampaignError

Segment = dict[FieldDef, list[str]]


def _invalid(message: str) -> CampaignError:
    return CampaignError.invalid(message, "invalid_segment")


def clean_segment(raw: object) -> Segment:
    """{field key: [values]} checked against the choice fields; CampaignError (422) names
    an unknown field or value. A field with no values does not narrow the audience."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _invalid(_("Das Segment wird als Objekt angegeben: {Feldschlüssel: [Werte]}."))
    by_key = field_by_key()
    return {by_key[key]: values for key, values in
            ((key, _clean_values(by_key, key, values)) for key, values in raw.items()) if values}


def _clean_values(by_key: dict[str, FieldDef], key: object, values: object) -> list[str]:
    """The distinct values of one segment field, each one the field offers."""
    field = by_key.get(key) if isinstance(key, str) else None
    if field is None or field.kind != FieldKind.CHOICE:
        raise _invalid(_("Unbekanntes Auswahlfeld im Segment: „%(key)s“.", key=str(key)[:40]))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(_("Die Werte für „%(key)s“ werden als Liste von Texten angegeben.",
                         key=key))
    unknown = [value for value in values if not field.allows(value)]
    if unknown:
        raise _invalid(_("Unbekannter Wert „%(value)s“ für „%(key)s“.",
                         value=unknown[0][:64], key=key))
    return list(dict.fromkeys(values))


def set_segment(campaign_id: int, segment: Segment) -> None:
    """Store the campaign's segment, replacing the one it had."""
    db.session.execute(delete(SegmentValue).where(SegmentValue.campaign_id == campaign_id))
    rows = [{"campaign_id": campaign_id, "field_id": field.id, "value": value}
            for field, values in segment.items() for value in values]
    if rows:
        db.session.execute(insert(SegmentValue), rows)


def _stored(campaign_id: int) -> dict[int, list[str]]:
    """{field id: [values]} of a campaign's segment as stored."""
    rows = db.session.execute(select(SegmentValue.field_id, SegmentValue.value).where(
        SegmentValue.campaign_id == campaign_id).order_by(SegmentValue.value))
    stored: dict[int, list[str]] = {}
    for field_id, value in rows:
        stored.setdefault(field_id, []).append(value)
    return stored


def segment_of(campaign_id: int) -> dict[str, list[str]]:
    """{field key: [values]} of a campaign's segment, in field order (API, editor)."""
    stored = _stored(campaign_id)
    return {field.key: stored[field.id] for field in all_fields() if field.id in stored}


def _conditions(segment: dict[int, list[str]], subscriber_id) -> list:
    """The subscriber is among those who gave a wanted value of every field: one IN over
    an INTERSECT of index-only scans. (One EXISTS per field let PostgreSQL probe the
    answers once per topic subscriber: twice as slow at a million subscribers.)"""
    matching = [select(FieldValue.subscriber_id).where(
        FieldValue.field_id == field_id, FieldValue.value.in_(values))
        for field_id, values in segment.items()]
    if not matching:
        return []
    return [subscriber_id.in_(matching[0] if len(matching) == 1 else intersect(*matching))]


def segment_conditions(campaign_id: int, subscriber_id) -> list:
    """The WHERE conditions of a campaign's segment for the audience query (none: all)."""
    return _conditions(_stored(campaign_id), subscriber_id)


def count_audience(topic_ids: Iterable[int], segment: Segment) -> int:
    """Confirmed subscribers of these topics (none: all) in the segment: the number the
    editor sees before sending (suppressed addresses are left out only when it starts)."""
    s = Subscriber.__table__.c
    query = select(func.count()).select_from(Subscriber.__table__).where(
        s.status == SubscriberStatus.CONFIRMED.value)
    topic_ids = list(topic_ids)
    if topic_ids:
        query = query.where(exists().where(subscriber_topics.c.subscriber_id == s.id,
                                           subscriber_topics.c.topic_id.in_(topic_ids)))
    by_id = {field.id: values for field, values in segment.items()}
    return db.session.scalar(query.where(*_conditions(by_id, s.id))) or 0


def copy_segment(from_campaign_id: int, to_campaign_id: int) -> None:
    """A duplicated campaign keeps the original's segment."""
    stored = _stored(from_campaign_id)
    by_id = {field.id: field for field in all_fields()}
    set_segment(to_campaign_id, {by_id[fid]: values for fid, values in stored.items()
                                 if fid in by_id})
