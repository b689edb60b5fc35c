"""Seed the eight topics of OWL 2025: four cross-cutting themes, four value chains.

Revision ID: 0002
Revises: 0001
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TOPICS = [
    ("innovation", "Innovation"),
    ("bildung", "Bildung"),
    ("gruendung", "Gründung"),
    ("digitale-infrastruktur", "Digitale Infrastruktur"),
    ("industrie", "Industrie"),
    ("bauen", "Bauen"),
    ("gesundheit", "Gesundheit"),
    ("it", "IT"),
]


def upgrade():
    topics = sa.table(
        "topics",
        sa.column("slug", sa.String), sa.column("name", sa.String),
        sa.column("description", sa.String), sa.column("position", sa.Integer),
        sa.column("hidden", sa.Boolean), sa.column("created_at", sa.DateTime),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(topics, [
        {"slug": slug, "name": name, "description": "", "position": index,
         "hidden": False, "created_at": now}
        for index, (slug, name) in enumerate(TOPICS)
    ])


def downgrade():
    slugs = ", ".join(f"'{slug}'" for slug, _ in TOPICS)
    op.execute(f"DELETE FROM topics WHERE slug IN ({slugs})")
