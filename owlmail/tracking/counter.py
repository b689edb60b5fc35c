"""Clicks and opens counted in memory, written in batches.

A click is answered at once; its count waits in this process's buffer, which a
background thread writes every CLICK_FLUSH_SECONDS (or sooner once it holds
CLICK_FLUSH_SIZE entries), and once more when the process exits. One upsert per batch
adds to the aggregate rows (campaign, link, hour: clicks, filtered); readers with
tracking consent also get their own rows (campaign, reader, link: first time, count).
Whose consent is gone (withdrawn, erased) by the time the batch is written counts only
in the aggregate.

INTERFACE:

    counter(app).add(campaign_id, link, reader=None, filtered=False)
    flush(app)    # write what is buffered now (tests; the thread and exit do it anyway)
"""

import atexit
import logging
import os
import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..campaigns.models import Campaign
from ..extensions import db
from ..subscriptions.models import Subscriber
from ..timeutil import utcnow
from .models import LinkCount, ReaderActivity

log = logging.getLogger(__name__)
CHUNK = 500  # rows per statement (SQLite bounds the parameters of one statement)
KEEP_AT_MOST = 100_000  # entries kept for another try when writing fails again and again
_KEY = "owlmail.click_counter"


class Counter:
    """One process's buffer of counts, and the thread that writes it."""

    def __init__(self, app) -> None:
        self.app = app
        self.seconds = float(app.config["CLICK_FLUSH_SECONDS"])
        self.size = int(app.config["CLICK_FLUSH_SIZE"])
        self.lock = threading.Lock()  # guards the two dicts
        self.writing = threading.Lock()  # one batch at a time; flush() waits for it
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.links: dict[tuple[int, int, datetime], list[int]] = {}  # [clicks, filtered]
        self.readers: dict[tuple[int, int, int], list] = {}  # [first_at, count]
        self.pid: int | None = None

    def add(self, campaign_id: int, link: int, reader: int | None = None,
            filtered: bool = False) -> None:
        """Count one fetch of a link (0: the open pixel); `reader` only with consent."""
        now = utcnow()
        hour = now.replace(minute=0, second=0, microsecond=0)
        with self.lock:
            counts = self.links.setdefault((campaign_id, link, hour), [0, 0])
            counts[1 if filtered else 0] += 1
            if reader is not None and not filtered:
                entry = self.readers.setdefault((campaign_id, reader, link), [now, 0])
                entry[1] += 1
            full = len(self.links) + len(self.readers) >= self.size
        self._ensure_thread()
        if full:
            self.wake.set()

    def _ensure_thread(self) -> None:
        """A writer thread in this process (after a fork the parent's is not ours)."""
        if self.pid == os.getpid() or not self.seconds:
            return
        with self.lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
        threading.Thread(target=self._run, name="click-counter", daemon=True).start()
        atexit.register(self.last_flush)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.wake.wait(self.seconds)
            self.wake.clear()
            try:
                self.flush()
            except Exception:  # the next round tries again with what came meanwhile
                log.exception("writing click counts failed")

    def stop(self) -> None:
        """End the writer thread after one more round (tests; a process just exits)."""
        self.stopped.set()
        self.wake.set()

    def last_flush(self, attempts: int = 3) -> None:
        """At exit: what is still buffered, tried a few times (nothing comes after)."""
        for attempt in range(1, attempts + 1):
            try:
                self.flush()
                return
            except Exception:
                log.exception("writing click counts at exit failed (attempt %s)", attempt)

    def take(self) -> tuple[dict, dict]:
        """What is buffered, leaving the buffer empty."""
        with self.lock:
            links, readers = self.links, self.readers
            self.links, self.readers = {}, {}
        return links, readers

    def flush(self) -> int:
        """Write what is buffered now, in one transaction; how many rows it touched."""
        with self.writing:
            links, readers = self.take()
            if not links and not readers:
                return 0
            try:
                with self.app.app_context():
                    count = write(links, readers)
                    db.session.commit()
            except Exception:
                self._put_back(links, readers)
                raise
            return count

    def _put_back(self, links: dict, readers: dict) -> None:
        """A batch that could not be written waits for the next round (within bounds: a
        database away for long must not fill the memory)."""
        with self.lock:
            if len(self.links) + len(self.readers) > KEEP_AT_MOST:
                log.error("dropping %s click counts that could not be written",
                          len(links) + len(readers))
                return
            for key, (clicks, filtered) in links.items():
                counts = self.links.setdefault(key, [0, 0])
                counts[0] += clicks
                counts[1] += filtered
            for key, (first_at, count) in readers.items():
                entry = self.readers.setdefault(key, [first_at, 0])
                entry[0] = min(entry[0], first_at)
                entry[1] += count


def counter(app) -> Counter:
    """This app's counter (one per process and app)."""
    found = app.extensions.get(_KEY)
    if found is None:
        found = app.extensions.setdefault(_KEY, Counter(app))
    return found


def flush(app) -> int:
    """Write the buffered counts of this app now."""
    return counter(app).flush()


# --- writing a batch ---------------------------------------------------------------

def _insert(model):
    return (pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(model)


def write(links: dict, readers: dict) -> int:
    """Add a batch to the aggregate rows and (consent still given) the readers' rows.

    Rows go in key order: two processes writing the same rows then lock them in the same
    order and wait for each other instead of deadlocking (PostgreSQL)."""
    campaigns = _existing_campaigns({key[0] for key in links} | {key[0] for key in readers})
    rows = [{"campaign_id": c, "link": n, "hour": h, "clicks": k, "filtered": f}
            for (c, n, h), (k, f) in sorted(links.items()) if c in campaigns]
    readers = {key: value for key, value in readers.items() if key[0] in campaigns}
    for start in range(0, len(rows), CHUNK):
        statement = _insert(LinkCount).values(rows[start:start + CHUNK])
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["campaign_id", "link", "hour"],
            set_={"clicks": LinkCount.clicks + statement.excluded.clicks,
                  "filtered": LinkCount.filtered + statement.excluded.filtered}))
    return len(rows) + _write_readers(readers)


def _write_readers(readers: dict) -> int:
    consenting = _consenting({reader for _c, reader, _n in readers})
    rows = [{"campaign_id": c, "subscriber_id": s, "link": n, "first_at": at, "count": k}
            for (c, s, n), (at, k) in sorted(readers.items()) if s in consenting]
    for start in range(0, len(rows), CHUNK):
        statement = _insert(ReaderActivity).values(rows[start:start + CHUNK])
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["campaign_id", "subscriber_id", "link"],
            set_={"count": ReaderActivity.count + statement.excluded["count"]}))
    return len(rows)


def _existing_campaigns(ids: set[int]) -> set[int]:
    """Those campaigns that exist (a pixel names its campaign unchecked: one row naming a
    missing campaign must not keep the whole batch from being written)."""
    if not ids:
        return set()
    return set(db.session.scalars(select(Campaign.id).where(Campaign.id.in_(ids))))


def _consenting(ids: set[int]) -> set[int]:
    """Those of the readers who (still) agree to tracking; their rows are locked against
    an erasure until the batch is written."""
    if not ids:
        return set()
    return set(db.session.scalars(select(Subscriber.id).where(
        Subscriber.id.in_(ids), Subscriber.tracking.is_(True)).with_for_update(read=True)))
