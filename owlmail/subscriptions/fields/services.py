"""Subscriber fields: reading the definitions, and storing, showing and logging what
people gave. Services never commit."""

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select

from ...extensions import db
from ..consent import Evidence
from ..models import ConsentEvent, Subscriber, SubscriberStatus
from .models import FieldKind, FieldOption, FieldValue, SubscriberField

TEXT_MAX_LENGTH = 200
CACHE_KEY = "owlmail.subscriber_fields"
OPTION_VALUE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class FieldDef:
    """A field as forms, exports and segments need it (a plain snapshot, safe to cache)."""

    id: int
    key: str
    kind: FieldKind
    label_de: str
    label_en: str
    required: bool
    on_form: bool
    options: tuple[tuple[str, str, str], ...]  # (value, label_de, label_en)

    @property
    def label(self) -> str:
        """The label in the visitor's language (German when no English one is given)."""
        return self.label_en if _english() and self.label_en else self.label_de

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) of a choice field in the visitor's language."""
        english = _english()
        return [(value, en if english and en else de) for value, de, en in self.options]

    def allows(self, value: str) -> bool:
        """True when a choice field offers this value (text fields take any)."""
        return self.kind == FieldKind.TEXT or value in {v for v, _, _ in self.options}

    def shown(self, value: str) -> str:
        """A stored value as a person reads it (a choice's label)."""
        return dict(self.choices()).get(value, value)


def _english() -> bool:
    return str(get_locale() or "de") == "en"


def _snapshot(field: SubscriberField) -> FieldDef:
    return FieldDef(field.id, field.key, field.kind, field.label_de, field.label_en,
                    field.required, field.on_form,
                    tuple((o.value, o.label_de, o.label_en) for o in field.options))


def all_fields() -> list[FieldDef]:
    """Every field in display order; read at most every TOPIC_CACHE_SECONDS."""
    cached = current_app.extensions.get(CACHE_KEY)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    query = select(SubscriberField).order_by(SubscriberField.position, SubscriberField.id)
    fields = [_snapshot(field) for field in db.session.scalars(query)]
    current_app.extensions[CACHE_KEY] = (now + current_app.config["TOPIC_CACHE_SECONDS"],
                                         fields)
    return fields


def forget_cached_fields() -> None:
    """After an admin changed a field: the next form reads them again."""
    current_app.extensions.pop(CACHE_KEY, None)


def form_fields() -> list[FieldDef]:
    """The fields shown on the sign-up and preferences pages."""
    return [field for field in all_fields() if field.on_form]


def field_by_key() -> dict[str, FieldDef]:
    return {field.key: field for field in all_fields()}


# --- values ----------------------------------------------------------------

def values_of(subscriber_id: int) -> dict[str, str]:
    """{field key: value} of one subscriber, in field order."""
    return values_by_subscriber([subscriber_id]).get(subscriber_id, {})


def values_by_subscriber(ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{subscriber id: {field key: value}} for many subscribers in one query."""
    ids = list(ids)
    if not ids:
        return {}
    keys = {field.id: field.key for field in all_fields()}
    rows = db.session.execute(select(FieldValue.subscriber_id, FieldValue.field_id,
                                     FieldValue.value).where(FieldValue.subscriber_id.in_(ids)))
    found: dict[int, dict[str, str]] = {}
    for subscriber_id, field_id, value in rows:
        if field_id in keys:
            found.setdefault(subscriber_id, {})[keys[field_id]] = value
    order = list(keys.values())
    return {sid: dict(sorted(values.items(), key=lambda kv: order.index(kv[0])))
            for sid, values in found.items()}


def store_values(subscriber_id: int, values: dict[str, str], fields: list[FieldDef]) -> None:
    """Replace the subscriber's values of these fields with the given ones (empty: none)."""
    ids = [field.id for field in fields]
    if not ids:
        return
    db.session.execute(delete(FieldValue).where(FieldValue.subscriber_id == subscriber_id,
                                                FieldValue.field_id.in_(ids)))
    rows = [{"subscriber_id": subscriber_id, "field_id": field.id, "value": values[field.key]}
            for field in fields if values.get(field.key)]
    if rows:
        db.session.execute(insert(FieldValue), rows)


def log_given(subscriber_id: int, values: dict[str, str], evidence: Evidence,
              action: str = "fields") -> None:
    """The consent log keeps what a person said about themselves, and where."""
    db.session.add(ConsentEvent(
        subscriber_id=subscriber_id, action=action, ip=evidence.ip,
        user_agent=evidence.user_agent, source_url=evidence.source_url,
        detail=json.dumps({"fields": values}, ensure_ascii=False)))


def shown_values(subscriber_id: int) -> list[tuple[str, str]]:
    """(label, value as read) of every field the subscriber answered (subscriber page)."""
    given = values_of(subscriber_id)
    return [(field.label, field.shown(given[field.key]))
            for field in all_fields() if field.key in given]


def take_signup(subscriber_id: int, confirmed: bool, values: dict[str, str],
                fields: list[FieldDef], evidence: Evidence) -> None:
    """A new or renewed sign-up keeps what it gave for the fields it offered; a confirmed
    subscriber's answers stay (only their own preferences link changes them)."""
    if confirmed:
        return
    store_values(subscriber_id, values, fields)
    if values:
        log_given(subscriber_id, values, evidence)


def change_values(subscriber_id: int, values: dict[str, str], fields: list[FieldDef],
                  evidence: Evidence) -> bool:
    """The preferences page: store the answers, log them when they changed."""
    before = {key: value for key, value in values_of(subscriber_id).items()
              if key in {field.key for field in fields}}
    if before == values:
        return False
    store_values(subscriber_id, values, fields)
    log_given(subscriber_id, values, evidence)
    return True


# --- defining (admins) -----------------------------------------------------

# Names the sign-up forms, the embedded form or the CSV already use for something else.
RESERVED_KEYS = {"email", "name", "topics", "consent", "tracking", "website", "form_ts",
                 "csrf_token", "source", "lang", "status", "confirmed_at", "consent_source",
                 "consent_history", "back", "segment"}


class FieldError(ValueError):
    """A field definition that cannot be saved; the message is German."""


def parse_options(text: str) -> list[tuple[str, str, str]]:
    """Lines "wert | deutsch | englisch" (English optional) as (value, de, en)."""
    options: dict[str, tuple[str, str, str]] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        value, de, en = [*parts, "", ""][:3]
        if not OPTION_VALUE.fullmatch(value) or not de or len(parts) > 3:
            raise FieldError(_("Zeile %(n)d: bitte „wert | deutsch | englisch“ (wert: "
                               "Kleinbuchstaben, Ziffern, -).", n=number))
        if len(de) > 120 or len(en) > 120:
            raise FieldError(_("Zeile %(n)d: Bezeichnungen höchstens 120 Zeichen.", n=number))
        options.setdefault(value, (value, de, en))
    return list(options.values())


def create_field(key: str, kind: FieldKind, label_de: str, label_en: str, required: bool,
                 on_form: bool, options: list[tuple[str, str, str]]) -> SubscriberField:
    """A new field at the end of the list (not committed)."""
    if key in RESERVED_KEYS:
        raise FieldError(_("„%(key)s“ ist schon vergeben. Bitte wählen Sie einen anderen "
                           "Schlüssel.", key=key))
    if db.session.scalar(select(SubscriberField.id).where(SubscriberField.key == key)):
        raise FieldError(_("Ein Feld „%(key)s“ gibt es schon.", key=key))
    _check_options(kind, options)
    position = db.session.scalar(select(func.max(SubscriberField.position))) or 0
    field = SubscriberField(key=key, kind=kind, position=position + 1)
    db.session.add(field)
    _describe(field, label_de, label_en, required, on_form, options)
    return field


def update_field(field: SubscriberField, label_de: str, label_en: str, required: bool,
                 on_form: bool, options: list[tuple[str, str, str]]) -> None:
    """New labels, flags and choices; a value people gave cannot be taken away."""
    _check_options(field.kind, options)
    removed = {o.value for o in field.options} - {value for value, _, _ in options}
    in_use = db.session.scalar(select(FieldValue.value).where(
        FieldValue.field_id == field.id, FieldValue.value.in_(removed)).limit(1)) \
        if removed else None
    if in_use:
        raise FieldError(_("Der Wert „%(value)s“ ist bei Abonnenten gespeichert und kann "
                           "nicht entfernt werden.", value=in_use))
    _describe(field, label_de, label_en, required, on_form, options)


def _check_options(kind: FieldKind, options: list[tuple[str, str, str]]) -> None:
    if kind == FieldKind.CHOICE and not options:
        raise FieldError(_("Ein Auswahlfeld braucht mindestens einen Wert."))
    if kind == FieldKind.TEXT and options:
        raise FieldError(_("Ein Textfeld hat keine Auswahlwerte."))


def _describe(field: SubscriberField, label_de: str, label_en: str, required: bool,
              on_form: bool, options: list[tuple[str, str, str]]) -> None:
    field.label_de, field.label_en = label_de.strip(), (label_en or "").strip()
    field.required, field.on_form = required, on_form
    known = {option.value: option for option in field.options}
    field.options = [_option(known.get(value), value, de, en, index)
                     for index, (value, de, en) in enumerate(options)]
    forget_cached_fields()


def _option(option: FieldOption | None, value: str, de: str, en: str,
            position: int) -> FieldOption:
    option = option or FieldOption(value=value)
    option.label_de, option.label_en, option.position = de, en, position
    return option


def options_text(field: SubscriberField) -> str:
    """The choices as the admin form's lines."""
    return "\n".join(" | ".join(part for part in (o.value, o.label_de, o.label_en) if part)
                     for o in field.options)


# --- counting (dashboard) --------------------------------------------------

ANSWERS_KEY = "owlmail.field_answer_counts"


def count_answers(max_age: float = 60.0) -> list[tuple[FieldDef, list[tuple[str, int]]]]:
    """Confirmed subscribers per value of each choice field (label, count), "no answer"
    last; computed at most once per max_age seconds per process, like the topic counts."""
    cached = current_app.extensions.get(ANSWERS_KEY)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    counts = dict(((field_id, value), n) for field_id, value, n in db.session.execute(
        select(FieldValue.field_id, FieldValue.value, func.count())
        .join(Subscriber, Subscriber.id == FieldValue.subscriber_id)
        .where(Subscriber.status == SubscriberStatus.CONFIRMED)
        .group_by(FieldValue.field_id, FieldValue.value)))
    confirmed = db.session.scalar(select(func.count()).where(
        Subscriber.status == SubscriberStatus.CONFIRMED)) or 0
    tables = [(field, _answer_rows(field, counts, confirmed))
              for field in all_fields() if field.kind == FieldKind.CHOICE]
    current_app.extensions[ANSWERS_KEY] = (now + max_age, tables)
    return tables


def _answer_rows(field: FieldDef, counts: dict, confirmed: int) -> list[tuple[str, int]]:
    rows = [(label, counts.get((field.id, value), 0)) for value, label in field.choices()]
    return [*rows, (_("keine Angabe"), max(confirmed - sum(n for _, n in rows), 0))]
