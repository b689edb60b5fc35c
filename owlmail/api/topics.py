"""GET /api/v1/topics: the topics campaigns and subscribers can carry."""

from sqlalchemy import select

from ..extensions import db
from ..subscriptions.models import Topic
from .common import api_blueprint
from .schemas import TopicListSchema

blp = api_blueprint("api_topics", "Themen")


@blp.get("/topics")
@blp.response(200, TopicListSchema)
def list_topics():
    """Every topic (hidden ones included: campaigns may address them), in display order."""
    topics = db.session.scalars(select(Topic).order_by(Topic.position, Topic.name))
    return {"items": [{"slug": t.slug, "name": t.name} for t in topics]}
