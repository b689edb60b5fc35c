"""Scheduled jobs that must run once per schedule across all workers (the purges): each
worker's scheduler asks for the turn; only the first one within the interval gets it."""

import time
from collections.abc import Callable

from sqlalchemy import Float, String, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

# A turn counts as taken for most of the interval: two workers' timers never tick at
# exactly the same moment, and the next regular turn must not be refused.
SLACK = 0.9


class JobRun(db.Model):
    """When a scheduled job last started in any worker (seconds since the epoch)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float, default=0.0)


def take_turn(name: str, seconds: float, now: float | None = None) -> bool:
    """True for the one worker whose turn it is; committed at once, so the others see it.

    A conditional UPDATE is the lock: on PostgreSQL a second worker's update waits for
    the first one's row lock and then finds the turn taken; SQLite has one writer."""
    now = time.time() if now is None else now
    runs = JobRun.__table__
    _add_row(name)
    taken = db.session.execute(
        update(runs).where(runs.c.name == name, runs.c.started_at <= now - seconds * SLACK)
        .values(started_at=now)).rowcount
    db.session.commit()
    return taken == 1


def _add_row(name: str) -> None:
    dialect = db.session.get_bind().dialect.name
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(dialect_insert(JobRun.__table__).values(name=name, started_at=0.0)
                       .on_conflict_do_nothing(index_elements=["name"]))


def once_per_schedule(name: str, seconds: float, job: Callable[[], object]) -> Callable[[], None]:
    """The job, run only by the worker that takes the turn."""

    def run() -> None:
        if take_turn(name, seconds):
            job()

    run.__name__ = job.__name__
    return run
