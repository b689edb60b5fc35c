"""The relay's limits, SEND_RATE_PER_SECOND and SEND_RATE_PER_HOUR, kept by all
workers together: every mail takes its slot in the database before it goes.

Per second: one row holds the earliest moment the next mail may go; a conditional
UPDATE takes the slot (now ≥ next_at) and moves it on by 1/rate, so mails are spaced
evenly whichever worker sends them. Per hour: a stamp per mail of the last hour,
counted under the pace row's lock (PostgreSQL; SQLite has one writer anyway). Slots
are taken in a short transaction of its own; the clock is the hosts' wall clock.
"""

import threading
import time

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import SendPace, SendStamp

HOUR = 3600.0
PACE = "send"  # the one pace row
pace, stamps = SendPace.__table__, SendStamp.__table__


class Throttle:
    """Blocks a sender until the shared limits let one more mail go."""

    def __init__(self, engine: Engine, per_second: float | None, per_hour: int | None) -> None:
        self.engine = engine
        self.interval = 1.0 / per_second if per_second else 0.0
        self.per_hour = per_hour

    @property
    def limited(self) -> bool:
        return bool(self.interval or self.per_hour)

    def wait(self, halt: threading.Event) -> bool:
        """Block until one more mail may go; False if the run was halted meanwhile."""
        if not self.limited:
            return not halt.is_set()
        while True:
            delay = self.take(time.time())
            if delay <= 0:
                return not halt.is_set()
            if halt.wait(min(delay, 1.0)):
                return False

    def take(self, now: float) -> float:
        """Take a slot now and return 0, or take nothing and return the seconds to wait."""
        with self.engine.begin() as conn:
            next_at = _locked_pace(conn)
            if next_at is None:
                _add_pace_row(conn)
                next_at = _locked_pace(conn)
            delay = max(next_at - now, self._hour_delay(conn, now))
            if delay > 0:
                return delay
            conn.execute(update(pace).where(pace.c.name == PACE)
                         .values(next_at=now + self.interval))
            if self.per_hour:
                conn.execute(insert(stamps).values(at=now))
        return 0.0

    def _hour_delay(self, conn, now: float) -> float:
        """Seconds until the oldest mail of the last hour leaves it, when the hour is full."""
        if not self.per_hour:
            return 0.0
        conn.execute(delete(stamps).where(stamps.c.at <= now - HOUR))
        count, oldest = conn.execute(select(func.count(), func.min(stamps.c.at))).one()
        return oldest + HOUR - now if count >= self.per_hour else 0.0


def _locked_pace(conn) -> float | None:
    """next_at of the pace row, locked until the transaction ends (None: no row yet)."""
    return conn.execute(select(pace.c.next_at).where(pace.c.name == PACE)
                        .with_for_update()).scalar()


def _add_pace_row(conn) -> None:
    """The pace row on first use (two workers may both try: one insert wins)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(pace).values(name=PACE, next_at=0.0)
                 .on_conflict_do_nothing(index_elements=["name"]))
