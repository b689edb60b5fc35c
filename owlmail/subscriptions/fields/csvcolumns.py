"""Subscriber fields in the CSV import and export: one column per field key, after the
existing columns; a choice field's cell holds the value's slug."""

from flask_babel import gettext as _
from sqlalchemy import insert

from ...extensions import db
from .models import FieldKind, FieldValue
from .services import TEXT_MAX_LENGTH, all_fields, values_by_subscriber


def field_columns() -> list[str]:
    """The field keys, in field order: the extra columns of import and export."""
    return [field.key for field in all_fields()]


def parse_cells(cells: dict[str, str]) -> dict[str, str]:
    """{key: value} of one row's field columns; ValueError (German) names a bad cell."""
    given = {}
    for field in all_fields():
        value = cells.get(field.key, "").strip()
        if not value:
            continue
        if field.kind == FieldKind.CHOICE and not field.allows(value):
            raise ValueError(_("Unbekannter Wert „%(value)s“ in der Spalte „%(key)s“.",
                               value=value[:64], key=field.key))
        if len(value) > TEXT_MAX_LENGTH or not value.isprintable():
            raise ValueError(_("Die Spalte „%(key)s“ ist zu lang oder enthält Steuerzeichen.",
                               key=field.key))
        given[field.key] = value
    return given


def store_imported(answers: list[tuple[int, dict[str, str]]]) -> None:
    """The answers of newly imported subscribers, in one INSERT."""
    ids = {field.key: field.id for field in all_fields()}
    rows = [{"subscriber_id": subscriber_id, "field_id": ids[key], "value": value}
            for subscriber_id, given in answers for key, value in given.items()]
    if rows:
        db.session.execute(insert(FieldValue), rows)


def export_cells(subscriber_ids: list[int], keys: list[str]) -> dict[int, list[str]]:
    """{subscriber id: [cell per key]} for one chunk of the export, in one query."""
    values = values_by_subscriber(subscriber_ids)
    return {sid: [values.get(sid, {}).get(key, "") for key in keys] for sid in subscriber_ids}
