"""`flask --app owlmail backup FILE`: a consistent copy of the SQLite database.

SQLite's online backup API copies the database page by page inside one read
transaction: in WAL mode the site goes on reading and writing meanwhile, and the copy
is the database as it was at one moment. PostgreSQL has pg_dump for this.
"""

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """No backup was made; the message (German) says why and what to do."""


class NotSqlite(BackupError):
    """The database is not a SQLite file; the message says what to use instead."""


def sqlite_file(database_uri: str) -> Path:
    """The file of a SQLite database URI; NotSqlite for PostgreSQL and in-memory ones."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        # pg_dump takes the same URI without the driver (and never shows a password)
        plain = URL.create("postgresql", url.username, None, url.host, url.port, url.database,
                           url.query).render_as_string(hide_password=False)
        raise NotSqlite(
            "Die Datenbank ist PostgreSQL, nicht SQLite: sichern Sie sie mit pg_dump, z. B. "
            f"pg_dump --format=custom --file=owlmail.dump '{plain}' "
            "(zurück mit pg_restore).")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise NotSqlite("Diese SQLite-Datenbank liegt nicht in einer Datei.")
    return Path(url.database)


def backup_sqlite(database_uri: str, target: Path) -> int:
    """Copy the database to `target` (replaced at the end, never half written); its size.

    The copy holds personal data: only the owner may read it (mode 600)."""
    source_path = sqlite_file(database_uri)
    if not source_path.is_file():
        raise BackupError(f"Die Datenbankdatei {source_path} gibt es nicht.")
    if target.exists() and target.resolve() == source_path.resolve():
        raise BackupError("Die Sicherung darf nicht die Datenbank selbst überschreiben.")
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        _copy(source_path, partial)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"Die Sicherung nach {target} ist nicht gelungen: {exc}")
    os.replace(partial, target)
    return target.stat().st_size


def _copy(source_path: Path, partial: Path) -> None:
    """All pages in one step: one read transaction, so the copy is one moment."""
    source, copy = sqlite3.connect(source_path), sqlite3.connect(partial)
    try:
        source.execute("PRAGMA busy_timeout=10000")
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
    finally:
        copy.close()
        source.close()
