"""Subscriber fields: their definitions, the choices of a choice field, the values people
gave, and the segment (per field, the wanted values) a campaign is aimed at."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...dbtypes import str_enum
from ...extensions import db
from ...timeutil import utcnow


class FieldKind(enum.StrEnum):
    CHOICE = "choice"
    TEXT = "text"


class SubscriberField(db.Model):
    """A question a subscriber may answer; its key names the form input and CSV column."""

    __tablename__ = "subscriber_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[FieldKind] = mapped_column(str_enum(FieldKind))
    label_de: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120), default="")
    required: Mapped[bool] = mapped_column(default=False)
    on_form: Mapped[bool] = mapped_column(default=True)  # shown on sign-up and preferences
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    options: Mapped[list["FieldOption"]] = relationship(
        back_populates="field", cascade="all, delete-orphan", passive_deletes=True,
        order_by="FieldOption.position", lazy="selectin")

    def __repr__(self) -> str:
        return f"<SubscriberField {self.key}>"


class FieldOption(db.Model):
    """One value of a choice field: a slug stored, a label shown in each language."""

    __tablename__ = "field_options"
    __table_args__ = (UniqueConstraint("field_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("subscriber_fields.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(64))
    label_de: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120), default="")
    position: Mapped[int] = mapped_column(default=0)

    field: Mapped[SubscriberField] = relationship(back_populates="options")


class FieldValue(db.Model):
    """What one subscriber gave for one field; erased with the subscriber (cascade)."""

    __tablename__ = "subscriber_field_values"
    # Segments ask "which subscribers have one of these values": field, value, then id.
    __table_args__ = (Index("ix_subscriber_field_values_field_value", "field_id", "value",
                            "subscriber_id"),)

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber_fields.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class SegmentValue(db.Model):
    """One wanted value of a campaign's segment: all fields must match, any value of each."""

    __tablename__ = "campaign_segment_values"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber_fields.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
