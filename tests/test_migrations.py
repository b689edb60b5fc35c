"""`flask db upgrade` builds exactly the schema the models describe, with the seeded topics."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from owlmail import create_app
from owlmail.extensions import db
from owlmail.subscriptions.models import Topic

PG_URI = os.environ.get("OWLMAIL_TEST_DATABASE_URI")
PG_MIGRATION_DB = "owlmail_migration_check"


@pytest.fixture
def empty_database(tmp_path):
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if not PG_URI:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"
        return
    admin = create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_MIGRATION_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_MIGRATION_DB}"))
    yield PG_URI.rsplit("/", 1)[0] + f"/{PG_MIGRATION_DB}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_MIGRATION_DB} WITH (FORCE)"))
    admin.dispose()


def test_db_upgrade_builds_the_models_schema_and_seeds_the_topics(empty_database, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x"},
                     instance_path=str(tmp_path / "instance"))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
        slugs = db.session.scalars(select(Topic.slug).order_by(Topic.position)).all()
        db.session.remove()
        db.engine.dispose()
    assert differences == [], "models and migrations differ: run `flask db migrate`"
    assert slugs == ["innovation", "bildung", "gruendung", "digitale-infrastruktur",
                     "industrie", "bauen", "gesundheit", "it"]
