"""The scheduler: every time-based job, run in exactly one process per installation."""

import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.engine import make_url
from werkzeug.serving import is_running_from_reloader

from .audit.services import purge_expired as purge_audit
from .auth.sessions import purge_ended as purge_sessions
from .contact.services import purge_expired_messages
from .delivery.engine import allow_sending, request_stop, run_due_campaigns
from .extensions import db
from .jobruns import once_per_schedule
from .mail.transport import MailNotConfigured, require_mail_config
from .outbox.services import drain_outbox, purge_failed_mail
from .subscriptions.services import purge_unconfirmed
from .transactions import Intent, declare

log = logging.getLogger(__name__)
EXTENSION_KEY = "owlmail.scheduler"


class SchedulerLocked(RuntimeError):
    """Another process already runs the scheduler on this SQLite database."""


def job_table(app: Flask) -> list[tuple[str, Callable[[], object], float]]:
    """Every job as (stable id, function, interval in seconds)."""
    return [
        ("outbox", drain_outbox, app.config["OUTBOX_POLL_SECONDS"]),
        ("campaigns", run_due_campaigns, app.config.get("CAMPAIGN_POLL_SECONDS", 2.0)),
        # Workers share these: one of them runs each per schedule.
        ("purge-unconfirmed", once_per_schedule("purge-unconfirmed", 3600, purge_unconfirmed),
         3600),
        ("purge-contact", once_per_schedule("purge-contact", 6 * 3600, purge_expired_messages),
         6 * 3600),
        ("purge-outbox", once_per_schedule("purge-outbox", 3600, purge_failed_mail), 3600),
        ("purge-audit", once_per_schedule("purge-audit", 6 * 3600, purge_audit), 6 * 3600),
        ("purge-sessions", once_per_schedule("purge-sessions", 3600, purge_sessions), 3600),
    ]


def _in_app_context(app: Flask, func: Callable[[], object]) -> Callable[[], None]:
    """Wrap a job: push an app context, run it, never let one failure stop the scheduler."""

    def run() -> None:
        with app.app_context():
            declare(Intent.WRITE)  # every job may write: SQLite's lock up front, never "locked"
            try:
                func()
            except Exception:
                db.session.rollback()
                log.exception("scheduled job %s failed", func.__name__)
            finally:
                db.session.remove()

    return run


class _SkippedRunsFilter(logging.Filter):
    """A job still running when its next turn comes is normal here (a campaign being
    sent takes longer than the poll interval): do not warn about it every two seconds."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def _lock_path(app: Flask) -> Path:
    """The lock file belongs to the database file: one sending process per SQLite file."""
    uri = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.database and uri.database != ":memory:":
        return Path(uri.database).with_name(Path(uri.database).name + ".scheduler.lock")
    return Path(app.instance_path) / "scheduler.lock"


def _acquire_sqlite_lock(app: Flask) -> None:
    """On SQLite only one process may send: hold an exclusive lock file for life."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    path = _lock_path(app)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise SchedulerLocked(
            f"Auf dieser SQLite-Datenbank versendet bereits ein anderer Prozess (PID {holder}, "
            f"Sperrdatei {path}). Mit SQLite darf nur ein Worker laufen: beenden Sie den "
            "anderen Worker bzw. `make run`, oder nutzen Sie PostgreSQL für mehrere Worker."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    app.extensions["owlmail.scheduler_lock"] = handle  # kept open: the lock lives with it


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the scheduler for this app (once); raises SchedulerLocked on a busy SQLite."""
    if EXTENSION_KEY in app.extensions:
        return app.extensions[EXTENSION_KEY]
    require_mail_config(app.config)  # MailNotConfigured: sending nowhere is refused
    _acquire_sqlite_lock(app)
    allow_sending()
    logging.getLogger("apscheduler.scheduler").addFilter(_SkippedRunsFilter())
    scheduler = BackgroundScheduler(timezone="UTC")
    for job_id, func, seconds in job_table(app):
        scheduler.add_job(
            _in_app_context(app, func), "interval", seconds=seconds, id=job_id,
            max_instances=1, coalesce=True, replace_existing=True,
        )
    scheduler.start()
    app.extensions[EXTENSION_KEY] = scheduler
    log.info("scheduler started in process %s", os.getpid())
    return scheduler


def start_in_web_process(app: Flask) -> None:
    """Under `make run`: start in the serving process only, never in the reloader's parent."""
    if not app.config["SCHEDULER_ENABLED"]:
        return
    if app.debug and not is_running_from_reloader():
        return
    try:
        start_scheduler(app)
    except SchedulerLocked as exc:
        log.warning("%s", exc)
    except MailNotConfigured as exc:
        log.error("%s", exc)


def run_worker(app: Flask) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT, then finish jobs in flight."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = start_scheduler(app)
    log.info("worker %s running; SIGTERM stops it after the mails in flight", os.getpid())
    while not stop.wait(1.0):  # a timed wait lets the signal handler run promptly
        pass
    log.info("stopping: finishing the mails in flight")
    request_stop()  # campaign runs send nothing more, return their unsent claims
    scheduler.shutdown(wait=True)
    app.extensions.pop(EXTENSION_KEY, None)
    log.info("worker %s stopped", os.getpid())
