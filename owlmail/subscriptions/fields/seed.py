"""The two fields a new database starts with (the same lists as migration 0007)."""

from ...extensions import db
from .models import FieldKind, FieldOption, SubscriberField

ORGANISATION = [
    ("unternehmen", "Unternehmen", "Company"),
    ("hochschule", "Hochschule und Forschung", "University and research"),
    ("verwaltung", "Kommune und Verwaltung", "Municipality and administration"),
    ("verband", "Kammer und Verband", "Chamber and association"),
    ("privat", "Privatperson", "Private person"),
]
KREIS = [
    ("bielefeld", "Bielefeld", "Bielefeld"),
    ("guetersloh", "Kreis Gütersloh", "Gütersloh district"),
    ("herford", "Kreis Herford", "Herford district"),
    ("hoexter", "Kreis Höxter", "Höxter district"),
    ("lippe", "Kreis Lippe", "Lippe district"),
    ("minden-luebbecke", "Kreis Minden-Lübbecke", "Minden-Lübbecke district"),
    ("paderborn", "Kreis Paderborn", "Paderborn district"),
    ("ausserhalb", "außerhalb von OWL", "outside OWL"),
]
DEFAULT_FIELDS = [
    ("organisation", "Organisation", "Organisation", ORGANISATION),
    ("kreis", "Kreis", "District", KREIS),
]


def seed_fields() -> None:
    """Add the default fields (for databases made by create_all, as in tests)."""
    for position, (key, label_de, label_en, options) in enumerate(DEFAULT_FIELDS):
        db.session.add(SubscriberField(
            key=key, kind=FieldKind.CHOICE, label_de=label_de, label_en=label_en,
            required=False, on_form=True, position=position,
            options=[FieldOption(value=value, label_de=de, label_en=en, position=index)
                     for index, (value, de, en) in enumerate(options)]))
