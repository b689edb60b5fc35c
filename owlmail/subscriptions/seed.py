"""The topics a new database starts with (the same list as migration 0002)."""

from ..extensions import db
from .models import Topic

DEFAULT_TOPICS = [
    ("innovation", "Innovation"),
    ("bildung", "Bildung"),
    ("gruendung", "Gründung"),
    ("digitale-infrastruktur", "Digitale Infrastruktur"),
    ("industrie", "Industrie"),
    ("bauen", "Bauen"),
    ("gesundheit", "Gesundheit"),
    ("it", "IT"),
]


def seed_topics() -> None:
    """Add the default topics (for databases made by create_all, as in tests)."""
    for position, (slug, name) in enumerate(DEFAULT_TOPICS):
        db.session.add(Topic(slug=slug, name=name, position=position))
