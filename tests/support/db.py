"""Short helpers for tests that look at the database and the outbox from outside a request."""

from sqlalchemy import func, select, update

from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.outbox.services import drain_outbox
from owlmail.timeutil import utcnow


def deliver(app) -> int:
    """Send what the outbox holds now, as the scheduler's job would; returns how many."""
    with app.app_context():
        return drain_outbox()


def count(app, model) -> int:
    """How many rows a table holds."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def make_due_now(app) -> None:
    """Skip the back-off wait: the next drain tries every queued mail."""
    with app.app_context():
        db.session.execute(update(OutboxMail).values(next_attempt_at=utcnow()))
        db.session.commit()
