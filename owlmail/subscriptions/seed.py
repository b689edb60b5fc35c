"""The topics a new database starts with (the same list as migration 0002)."""

from ..extensions import db
from .models import Topic


def N_(name: str) -> str:  # the gettext convention for "extract now, translate when shown"
    """Mark a default topic name for the catalogue; it is stored German and shown translated."""
    return name


DEFAULT_TOPICS = [
    ("innovation", N_("Innovation")),
    ("bildung", N_("Bildung")),
    ("gruendung", N_("Gründung")),
    ("digitale-infrastruktur", N_("Digitale Infrastruktur")),
    ("industrie", N_("Industrie")),
    ("bauen", N_("Bauen")),
    ("gesundheit", N_("Gesundheit")),
    ("it", N_("IT")),
]


def seed_topics() -> None:
    """Add the default topics (for databases made by create_all, as in tests)."""
    for position, (slug, name) in enumerate(DEFAULT_TOPICS):
        db.session.add(Topic(slug=slug, name=name, position=position))
