"""Messages sent through the contact form, kept until they are handled and expire."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Editor
from ..dbtypes import str_enum
from ..extensions import db
from ..subscriptions.models import Topic
from ..timeutil import utcnow


class ContactStatus(enum.StrEnum):
    NEW = "new"
    HANDLED = "handled"


class ContactMessage(db.Model):
    __tablename__ = "contact_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="de")  # the writer's: the reply's
    status: Mapped[ContactStatus] = mapped_column(
        str_enum(ContactStatus), default=ContactStatus.NEW
    )
    handled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("editors.id", ondelete="SET NULL"))

    topic: Mapped[Topic | None] = relationship()
    handled_by: Mapped[Editor | None] = relationship()
