"""Another writer on the same SQLite file, as a second gunicorn worker or the worker
process would be: it holds the one write lock, having written a row."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url


def sqlite_file(app: Flask) -> Path:
    return Path(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)


@contextmanager
def lock_held(app: Flask, seconds: float) -> Iterator[None]:
    """Hold SQLite's write lock for at most `seconds` (less when the block ends first).

    The row it writes makes every snapshot taken meanwhile stale: a transaction that
    read while the lock was held cannot write after it is released ("database is
    locked"), unless it took the lock up front."""
    conn = sqlite3.connect(sqlite_file(app), isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS contention (id INTEGER PRIMARY KEY)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO contention DEFAULT VALUES")
    released = threading.Lock()

    def release() -> None:
        with released:
            if conn.in_transaction:
                conn.execute("COMMIT")

    timer = threading.Timer(seconds, release)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        release()
        conn.close()
