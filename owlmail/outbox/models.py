"""The mail outbox: every transactional mail is a row before it is a packet.

Its bytes, addresses and subject live only until the mail is sent (or, when it failed,
until the purge); what is left is what a log needs: when, what kind, the outcome and
keyed hashes of the recipient and of the person the mail is about."""

import enum
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..dbtypes import BigId, str_enum
from ..extensions import db
from ..timeutil import utcnow


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxMail(db.Model):
    __tablename__ = "outbox_mails"
    __table_args__ = (Index("ix_outbox_mails_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # confirm | already | contact | test | notice
    envelope_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[str] = mapped_column(Text)  # comma separated; "" once sent
    subject: Mapped[str] = mapped_column(String(300), default="")  # "" once sent
    message: Mapped[bytes | None] = mapped_column(LargeBinary)  # RFC 5322, CRLF; None once sent
    # address_hash of each recipient (comma separated), and of the person the mail is about
    # (the subscriber, the writer of a contact message): forget_person finds them by these.
    recipient_hash: Mapped[str] = mapped_column(Text, default="")
    about_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
