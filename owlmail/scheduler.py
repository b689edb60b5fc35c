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
from werkzeug.serving import is_running_from_reloader

from .extensions import db

log = logging.getLogger(__name__)
EXTENSION_KEY = "owlmail.scheduler"


class SchedulerLocked(RuntimeError):
    """Another process already runs the scheduler on this SQLite database."""


def job_table(app: Flask) -> list[tuple[str, Callable[[], object], float]]:
    """Every job as (stable id, function, interval in seconds)."""
    from .contact.services import purge_expired_messages
    from .delivery.engine import run_due_campaigns
    from .mailing.services import drain_outbox
    from .subscriptions.services import purge_unconfirmed

    return [
        ("outbox", drain_outbox, app.config["OUTBOX_POLL_SECONDS"]),
        ("campaigns", run_due_campaigns, app.config.get("CAMPAIGN_POLL_SECONDS", 2.0)),
        ("purge-unconfirmed", purge_unconfirmed, 3600),
        ("purge-contact", purge_expired_messages, 6 * 3600),
    ]


def _in_app_context(app: Flask, func: Callable[[], object]) -> Callable[[], None]:
    """Wrap a job: push an app context, run it, never let one failure stop the scheduler."""

    def run() -> None:
        with app.app_context():
            try:
                func()
            except Exception:
                db.session.rollback()
                log.exception("scheduled job %s failed", func.__name__)
            finally:
                db.session.remove()

    return run


def _acquire_sqlite_lock(app: Flask) -> None:
    """On SQLite only one process may send: hold an exclusive lock file for life."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    path = Path(app.instance_path) / "scheduler.lock"
    handle = path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SchedulerLocked(
            "Auf dieser SQLite-Datenbank läuft bereits ein Worker (instance/scheduler.lock). "
            "Mit SQLite darf nur ein Prozess versenden; für mehrere Worker PostgreSQL nutzen."
        ) from None
    handle.write(str(os.getpid()))
    handle.flush()
    app.extensions["owlmail.scheduler_lock"] = handle  # kept open: the lock lives with it


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the scheduler for this app (once); raises SchedulerLocked on a busy SQLite."""
    if EXTENSION_KEY in app.extensions:
        return app.extensions[EXTENSION_KEY]
    _acquire_sqlite_lock(app)
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


def run_worker(app: Flask) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT, then finish jobs in flight."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = start_scheduler(app)
    log.info("worker running; SIGTERM stops it after the messages in flight")
    stop.wait()
    scheduler.shutdown(wait=True)
    app.extensions.pop(EXTENSION_KEY, None)
