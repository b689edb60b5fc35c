"""Request and response shapes of the API: they validate input and make the OpenAPI document.

Field errors are German; the API's 422 answer names the fields and keeps these
messages under `error.details`.
"""

import marshmallow as ma
from marshmallow import fields, validate

from ..campaigns.models import CampaignStatus
from ..campaigns.rendering import TEMPLATES
from ..campaigns.services import SUBJECT_MAX_LENGTH, TEST_RECIPIENTS_MAX
from ..subscriptions.models import SubscriberStatus
from ..text import is_single_line

REQUIRED = "Diese Angabe fehlt."
NULL = "Diese Angabe darf nicht null sein."
FIELD_ERRORS = {"required": REQUIRED, "null": NULL}


def text(**kwargs) -> fields.String:
    """A string field with German messages."""
    return fields.String(error_messages={**FIELD_ERRORS, "invalid": "Erwartet wird ein Text."},
                         **kwargs)


def text_list(**kwargs) -> fields.List:
    """A list of strings with German messages."""
    return fields.List(text(), error_messages={**FIELD_ERRORS,
                                               "invalid": "Erwartet wird eine Liste."}, **kwargs)


def no_control_characters(value: str) -> None:
    """Refuse NUL, CR, LF and other control characters (query strings, slugs)."""
    if not is_single_line(value):
        raise ma.ValidationError("Steuerzeichen sind hier nicht erlaubt.")


class GermanSchema(ma.Schema):
    """German messages for a body that is no object or carries unknown fields."""

    error_messages = {"unknown": "Unbekanntes Feld.",
                      "type": "Erwartet wird ein JSON-Objekt."}


# --- errors ----------------------------------------------------------------

class ErrorDetailSchema(ma.Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine name"})
    message = fields.String(required=True, metadata={"description": "German explanation"})
    details = fields.Dict(metadata={"description": "Messages per field (validation errors)"})


class ErrorSchema(ma.Schema):
    """Every error: `{"error": {"code", "message"}}`."""

    error = fields.Nested(ErrorDetailSchema, required=True)


# --- topics ----------------------------------------------------------------

class TopicSchema(ma.Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)


class TopicListSchema(ma.Schema):
    items = fields.List(fields.Nested(TopicSchema), required=True)


# --- campaigns -------------------------------------------------------------

SUBJECT = {"validate": validate.Length(max=SUBJECT_MAX_LENGTH,
                                       error="Höchstens {max} Zeichen."),
           "metadata": {"description": "One line, at most 200 characters"}}
TEMPLATE = {"allow_none": True,
            "validate": validate.OneOf(tuple(TEMPLATES), error="Möglich sind: {choices}."),
            "metadata": {"description": "Layout; null or missing means standard"}}
BODY = {"metadata": {"description": "Markdown with the personal fields {{ name }}, "
                                    "{{ email }}, {{ unsubscribe_url }}, {{ preferences_url }}"}}
TOPICS = {"metadata": {"description": "Topic slugs; empty means every topic"}}
# Checked against the fields by the service (German message naming an unknown key or value).
SEGMENT = {"metadata": {"description": "{choice field key: [values]}: every field must match, "
                                       "any of its values; missing or {} means no segment",
                        "type": "object", "additionalProperties": {
                            "type": "array", "items": {"type": "string"}}}}


class CampaignCreateSchema(GermanSchema):
    subject = text(required=True, **SUBJECT)
    body = text(required=True, **BODY)
    topics = text_list(load_default=list, **TOPICS)
    segment = fields.Raw(load_default=None, allow_none=True, **SEGMENT)
    template = text(load_default=None, **TEMPLATE)
    preheader = text(load_default="", validate=validate.Length(max=200, error="Höchstens "
                                                                              "{max} Zeichen."))


class CampaignPatchSchema(GermanSchema):
    """Only the fields sent are changed."""

    subject = text(**SUBJECT)
    body = text(**BODY)
    topics = text_list(**TOPICS)
    segment = fields.Raw(allow_none=True, **SEGMENT)
    template = text(**TEMPLATE)
    preheader = text(validate=validate.Length(max=200, error="Höchstens {max} Zeichen."))


class StatsSchema(ma.Schema):
    recipients = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    pending = fields.Integer(required=True)


class CampaignSchema(ma.Schema):
    id = fields.Integer(required=True)
    subject = fields.String(required=True)
    preheader = fields.String(required=True)
    body = fields.String(required=True)
    template = fields.String(required=True)
    topics = fields.List(fields.String(), required=True)
    segment = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                          required=True)
    status = fields.Enum(CampaignStatus, by_value=True, required=True)
    status_note = fields.String(required=True)
    send_at = fields.AwareDateTime(allow_none=True, required=True)
    started_at = fields.AwareDateTime(allow_none=True, required=True)
    finished_at = fields.AwareDateTime(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    stats = fields.Nested(StatsSchema, required=True)


class BouncesSchema(ma.Schema):
    hard = fields.Integer(required=True)
    soft = fields.Integer(required=True)


class DomainLineSchema(ma.Schema):
    domain = fields.String(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class LinkClicksSchema(ma.Schema):
    url = fields.String(required=True)
    clicks = fields.Integer(required=True)


class ReportSchema(ma.Schema):
    recipients = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    bounced = fields.Integer(required=True)
    bounces = fields.Nested(BouncesSchema, required=True)
    complaints = fields.Integer(required=True)
    unsubscribed = fields.Integer(required=True)
    domains = fields.List(fields.Nested(DomainLineSchema), required=True)
    clicks = fields.Integer(required=True, metadata={
        "description": "Clicks on the campaign's links by people, every reader counted "
                       "(anonymously without tracking consent)"})
    links = fields.List(fields.Nested(LinkClicksSchema), required=True,
                        metadata={"description": "The body's links, most clicked first"})
    opens = fields.Integer(required=True, metadata={
        "description": "Readers with tracking consent only: how many opened the mail "
                       "(loaded its image or clicked a link)"})
    unique_clickers = fields.Integer(required=True, metadata={
        "description": "Readers with tracking consent only: how many clicked a link"})
    tracking_readers = fields.Integer(required=True, metadata={
        "description": "Readers the campaign reached who agree to tracking (today)"})
    tracking_share = fields.Float(required=True, metadata={
        "description": "tracking_readers / sent (0 to 1)"})
    filtered = fields.Integer(required=True, metadata={
        "description": "Fetches not counted: HEAD requests and known link scanners"})


class CampaignQuerySchema(GermanSchema):
    status = text(validate=validate.OneOf([s.value for s in CampaignStatus],
                                          error="Möglich sind: {choices}."))
    after = text(validate=validate.Regexp(r"^[0-9]{1,10}$", error="Ungültiger Cursor."),
                 metadata={"description": "The `next` cursor of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(
        min=1, max=200, error="Zwischen {min} und {max}."),
        error_messages={"invalid": "Erwartet wird eine ganze Zahl."})


class CampaignPageSchema(ma.Schema):
    items = fields.List(fields.Nested(CampaignSchema), required=True)
    next = fields.String(allow_none=True, required=True)


class ScheduleSchema(GermanSchema):
    send_at = fields.AwareDateTime(
        required=True, allow_none=True,
        error_messages={**{"required": "Bitte geben Sie send_at an (null für sofort)."},
                        "invalid": "Erwartet wird ein Zeitpunkt nach ISO 8601.",
                        "invalid_awareness": "Der Zeitpunkt braucht eine Zeitzone "
                                             "(z. B. +01:00)."},
        metadata={"description": "ISO 8601 with offset; null sends now"})


class TestSendSchema(GermanSchema):
    emails = text_list(required=True, validate=validate.Length(
        min=1, max=TEST_RECIPIENTS_MAX, error="Eine bis {max} Adressen."))


class TestSendResultSchema(ma.Schema):
    emails = fields.List(fields.String(), required=True,
                         metadata={"description": "Addresses a test copy was queued for"})


# --- subscribers -----------------------------------------------------------

class SubscriberQuerySchema(GermanSchema):
    status = text(validate=validate.OneOf([s.value for s in SubscriberStatus],
                                          error="Möglich sind: {choices}."))
    topic = text(validate=[validate.Length(max=64, error="Höchstens {max} Zeichen."),
                           no_control_characters])
    q = text(validate=[validate.Length(max=320, error="Höchstens {max} Zeichen."),
                       no_control_characters],
             metadata={"description": "Start of the address"})
    after = text(validate=validate.Regexp(r"^[0-9]{1,18}$", error="Ungültiger Cursor."),
                 metadata={"description": "The `next` cursor of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(
        min=1, max=200, error="Zwischen {min} und {max}."),
        error_messages={"invalid": "Erwartet wird eine ganze Zahl."})


class SubscriberSchema(ma.Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True,
                           validate=validate.OneOf([s.value for s in SubscriberStatus]))
    topics = fields.List(fields.String(), required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "Subscriber fields: {field key: value}"})


class SubscriberPageSchema(ma.Schema):
    items = fields.List(fields.Nested(SubscriberSchema), required=True)
    next = fields.String(allow_none=True, required=True)


class ConsentEventSchema(ma.Schema):
    at = fields.String(allow_none=True, metadata={"format": "date-time"})
    action = fields.String(required=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    source_url = fields.String(allow_none=True)
    consent_text_version = fields.String(allow_none=True)
    mail_template_version = fields.String(allow_none=True)
    detail = fields.String()


class ConsentTextSchema(ma.Schema):
    version = fields.String(required=True)
    text = fields.String(required=True)
    first_shown_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class SubscriberDetailSchema(SubscriberSchema):
    source = fields.String()
    created_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    confirmed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    unsubscribed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    tracking = fields.Boolean(metadata={"description": "agrees that their own opens and "
                                        "clicks are counted (tracking_given / "
                                        "tracking_withdrawn in the history)"})
    consent_history = fields.List(fields.Nested(ConsentEventSchema), required=True)
    consent_texts = fields.List(fields.Nested(ConsentTextSchema), required=True,
                                metadata={"description": "the exact wording of each "
                                          "consent_text_version in the history"})
