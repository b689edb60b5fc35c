"""Which transactions take SQLite's one write lock: decided where a unit of work starts.

SQLite (WAL) lets any number of readers read while one writer writes. A transaction
that begins deferred (`BEGIN`) only reads a snapshot and never holds anyone up; one that
begins `BEGIN IMMEDIATE` holds the write lock from its first statement to its commit.
A deferred transaction that reads and then writes fails at once with "database is
locked" when someone else wrote in between — so every unit of work that may write
takes the lock up front, and only units that only read begin deferred.

The intent belongs to the unit of work (one app context: a request, a scheduler job,
a command) and is decided where it starts:

- a request: GET, HEAD and OPTIONS read, every other method writes; a view that writes
  on GET is marked with `@writes`;
- a scheduler job or a command writes unless it says `declare(Intent.READ)`;
- inside a reading unit, `with writing():` is a short unit of its own that writes.

PostgreSQL needs none of this (row locks, MVCC); there the intent changes nothing.
"""

import enum
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app, g, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_G_KEY = "owlmail_intent"
_BEGUN = "owlmail.begun"  # on the DBAPI connection's info: how its transaction began

T = TypeVar("T")
K = TypeVar("K")


class Intent(enum.StrEnum):
    """What a unit of work does with the database."""

    READ = "read"  # BEGIN: a snapshot, writers go on
    WRITE = "write"  # BEGIN IMMEDIATE: the write lock from the first statement on


class ReadOnlyWrite(RuntimeWarning):
    """A unit of work that declared it only reads wrote to SQLite."""


def declare(intent: Intent) -> None:
    """Set the intent of the current unit of work (its next transactions)."""
    setattr(g, _G_KEY, intent)


def writes(view: Callable[..., T]) -> Callable[..., T]:
    """Mark a view that writes although its method is safe (GET): it takes the lock."""
    view.owlmail_writes = True  # functools.wraps carries it through other decorators
    return view


def _request_intent() -> Intent:
    """A request's intent from its method, and from `@writes` on its view."""
    if request.method not in SAFE_METHODS:
        return Intent.WRITE
    view = current_app.view_functions.get(request.endpoint or "")
    return Intent.WRITE if getattr(view, "owlmail_writes", False) else Intent.READ


def current_intent() -> Intent:
    """The intent of the unit of work running now; without one it writes (the safe side)."""
    if not has_app_context():
        return Intent.WRITE
    declared = g.get(_G_KEY)
    if declared is not None:
        return declared
    return _request_intent() if has_request_context() else Intent.WRITE


@contextmanager
def writing() -> Iterator[None]:
    """A short unit of work that writes, inside one that reads (e.g. a GET that
    remembers something): its transaction begins IMMEDIATE. Commit inside the block;
    what is left uncommitted is rolled back."""
    if db.session().in_transaction():
        raise RuntimeError("end the read transaction before writing()")
    before = g.get(_G_KEY)
    declare(Intent.WRITE)
    try:
        yield
    finally:
        db.session.rollback()
        setattr(g, _G_KEY, before)


def end_read() -> None:
    """End a reading transaction and give its connection back to the pool."""
    db.session.close()


def paged(read_page: Callable[[K | None], tuple[list[T], K | None]]) -> Iterator[T]:
    """The items of a long read, a page at a time, each page in a transaction of its own.

    `read_page(after)` returns finished items (text, not ORM rows: those are gone when
    the transaction ends) and the key to go on after, None on the last page. Between
    pages nothing stays open, so a slow reader (a download on a slow line) holds no
    snapshot: SQLite can checkpoint its WAL, PostgreSQL can vacuum."""
    after: K | None = None
    while True:
        items, after = read_page(after)
        end_read()
        yield from items
        if after is None:
            return


# --- SQLite's BEGIN ---------------------------------------------------------------

@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    """BEGIN IMMEDIATE for units that write, a deferred BEGIN for units that only read.

    The sqlite3 module's own BEGIN is switched off (isolation_level None, in
    extensions.py): the statement is ours."""
    if conn.dialect.name != "sqlite":
        return
    mode = "IMMEDIATE" if current_intent() is Intent.WRITE else "DEFERRED"
    conn.info[_BEGUN] = mode
    conn.exec_driver_sql(f"BEGIN {mode}")


@event.listens_for(Engine, "before_cursor_execute")
def _warn_on_write_in_read(conn, _cursor, statement: str, *_args) -> None:
    """A write in a deferred transaction works only while nobody else writes: say so
    (an error in the tests, where warnings are errors) so the unit is declared."""
    if conn.info.get(_BEGUN) != "DEFERRED" or conn.dialect.name != "sqlite":
        return
    if statement.lstrip()[:7].upper().startswith(WRITE_STATEMENTS):
        warnings.warn(f"a unit of work that only reads wrote ({statement.strip()[:80]}); "
                      "mark its view @writes or write inside writing()", ReadOnlyWrite,
                      stacklevel=2)


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _sqlite_end(conn) -> None:
    conn.info.pop(_BEGUN, None)
