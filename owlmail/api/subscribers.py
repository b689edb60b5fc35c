"""Subscribers through the API: list with filters and cursor, detail, GDPR erasure."""

from .. import audit, erasure
from ..dbtypes import MAX_ID
from ..extensions import db
from ..subscriptions import queries as services
from ..subscriptions.fields import services as subscriber_fields
from ..subscriptions.models import SubscriberStatus
from .auth import require_admin
from .common import api_blueprint
from .schemas import SubscriberDetailSchema, SubscriberPageSchema, SubscriberQuerySchema

blp = api_blueprint("api_subscribers", "Abonnentinnen und Abonnenten")


def load_subscriber(subscriber_id: int):
    """The subscriber with this id, or 404 JSON."""
    if not 0 < subscriber_id <= MAX_ID:
        raise services.QueryError.not_found()
    return services.get_subscriber(subscriber_id)


@blp.get("/subscribers")
@blp.arguments(SubscriberQuerySchema, location="query")
@blp.response(200, SubscriberPageSchema)
def list_subscribers(args: dict):
    """Newest first; `status`, `topic`, `q` (start of the address) and the `after` cursor."""
    status = SubscriberStatus(args["status"]) if args.get("status") else None
    page = services.list_subscribers(status=status, topic=args.get("topic"), q=args.get("q"),
                                     after=args.get("after"), limit=args["limit"])
    values = subscriber_fields.values_by_subscriber(s.id for s in page.items)
    return {"items": [{**services.subscriber_summary(s), "fields": values.get(s.id, {})}
                      for s in page.items], "next": page.next}


@blp.get("/subscribers/<int:subscriber_id>")
@blp.response(200, SubscriberDetailSchema)
def get_subscriber(subscriber_id: int):
    """One subscriber with the whole consent history."""
    subscriber = load_subscriber(subscriber_id)
    return {**services.subscriber_detail(subscriber),
            "fields": subscriber_fields.values_of(subscriber.id)}


@blp.delete("/subscribers/<int:subscriber_id>")
@blp.response(204)
def erase_subscriber(subscriber_id: int):
    """Erase (GDPR): personal data gone, a hashed suppression entry kept. Admins only."""
    editor = require_admin()
    erasure.erase_person(load_subscriber(subscriber_id), by=editor)
    audit.record(editor, audit.AuditAction.ERASED, audit.subscriber_target(subscriber_id))
    db.session.commit()
