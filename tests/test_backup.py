"""`flask --app owlmail backup FILE`: a consistent copy of a SQLite installation while it
runs; PostgreSQL installations are pointed to pg_dump."""

import sqlite3

import pytest

from owlmail import create_app
from owlmail.extensions import db
from owlmail.subscriptions.seed import seed_topics
from tests.conftest import base_config
from tests.support.campaigns import add_subscribers
from tests.support.contention import lock_held, sqlite_file


@pytest.fixture
def sqlite_app(tmp_path):
    """A SQLite installation, whichever database the rest of the suite uses."""
    app = create_app(base_config(tmp_path, f"sqlite:///{tmp_path / 'owlmail.sqlite'}"),
                     instance_path=str(tmp_path / "instance"))
    with app.app_context():
        db.create_all()
        seed_topics()
        add_subscribers(3)
    yield app
    with app.app_context():
        db.engine.dispose()


def ask(path, sql: str):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def subscriber_count(path) -> int:
    assert ask(path, "PRAGMA integrity_check") == "ok"
    return ask(path, "SELECT count(*) FROM subscribers")


def test_a_backup_taken_while_another_process_writes_is_one_consistent_file(sqlite_app,
                                                                            tmp_path):
    target = tmp_path / "backups" / "owlmail.sqlite"
    target.parent.mkdir()
    with lock_held(sqlite_app, 6.0):  # a writer in the middle of its transaction
        result = sqlite_app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "Sicherung geschrieben" in result.output
    assert subscriber_count(target) == 3
    assert ask(target, "PRAGMA journal_mode") == "delete"  # no -wal file belongs to it
    assert sorted(p.name for p in target.parent.iterdir()) == ["owlmail.sqlite"]
    assert target.stat().st_mode & 0o077 == 0  # personal data: for the owner only


def test_a_second_backup_replaces_the_first(sqlite_app, tmp_path):
    target = tmp_path / "owlmail-backup.sqlite"
    runner = sqlite_app.test_cli_runner()
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    with sqlite_app.app_context():
        add_subscribers(2, prefix="neu")
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    assert subscriber_count(target) == 5


def test_a_backup_into_a_missing_folder_fails_clearly_and_leaves_nothing(sqlite_app, tmp_path):
    target = tmp_path / "fehlt" / "owlmail.sqlite"
    result = sqlite_app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 1
    assert "Die Sicherung nach" in result.output and "nicht gelungen" in result.output
    assert not target.parent.exists()


def test_the_backup_never_overwrites_the_database_itself(sqlite_app):
    database = sqlite_file(sqlite_app)
    result = sqlite_app.test_cli_runner().invoke(args=["backup", str(database)])
    assert result.exit_code == 1 and "nicht die Datenbank selbst" in result.output
    assert subscriber_count(database) == 3


def test_a_postgresql_installation_is_pointed_to_pg_dump(tmp_path):
    uri = "postgresql+psycopg://owlmail:geheim@db.invalid:5433/owlmail"
    app = create_app(base_config(tmp_path, uri), instance_path=str(tmp_path / "instance"))
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 1
    assert ("pg_dump --format=custom --file=owlmail.dump "
            "'postgresql://owlmail@db.invalid:5433/owlmail'") in result.output
    assert "geheim" not in result.output
    assert not (tmp_path / "x.sqlite").exists()
