"""The audit log through the API: entries in the order they were written, with a cursor."""

import marshmallow as ma
from marshmallow import fields, validate

from ..audit import services
from .auth import require_admin
from .common import api_blueprint, aware
from .schemas import GermanSchema, text

blp = api_blueprint("api_audit", "Protokoll: wer hat was wann getan")


class AuditQuerySchema(GermanSchema):
    after = text(validate=validate.Regexp(r"^[0-9]{1,18}$", error="Ungültiger Cursor."),
                 metadata={"description": "The `next` cursor of the previous page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(
        min=1, max=500, error="Zwischen {min} und {max}."),
        error_messages={"invalid": "Erwartet wird eine ganze Zahl."})


class AuditEntrySchema(ma.Schema):
    at = fields.AwareDateTime(required=True)
    actor = fields.String(required=True, metadata={"description": "Editor's address, "
                                                   "`cli`, `system` or `anonymous`"})
    action = fields.String(required=True)
    target = fields.String(required=True, metadata={"description": "e.g. `campaign #3`, "
                                                    "`subscriber #12` (never an address)"})


class AuditPageSchema(ma.Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next = fields.String(allow_none=True, required=True)


@blp.get("/audit")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit(args: dict):
    """Who did what, oldest first; `after` is the `next` of the previous page. Admins only."""
    require_admin()
    cursor = int(args["after"]) if args.get("after") else None
    rows, following = services.after(cursor, args["limit"])
    items = [{"at": aware(row.at), "actor": row.actor, "action": row.action,
              "target": row.target} for row in rows]
    return {"items": items, "next": str(following) if following is not None else None}
