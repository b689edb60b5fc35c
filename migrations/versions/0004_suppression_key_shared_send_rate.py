"""Suppression list under a keyed hash (HMAC-SHA256 with SUPPRESSION_KEY); the send
rate limits kept in the database, shared by every worker (send_pace, send_stamps); the
purge jobs' turns (job_runs), so one worker runs each per schedule.

Rows whose subscriber still exists (bounced, complained) are re-keyed now: the address
is known. Rows of erased people cannot be, their address is gone: they keep the plain
SHA-256 with keyed = false, are still honoured (imports and the engine look up both
forms) and are re-keyed the first time that address shows up again.

Revision ID: 0004
Revises: 0003
"""

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "send_pace",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_pace")),
    )
    op.create_table(
        "send_stamps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_stamps")),
    )
    op.create_index(op.f("ix_send_stamps_at"), "send_stamps", ["at"], unique=False)
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )
    _key_the_suppressions()


def _key_the_suppressions():
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("keyed", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE suppressions SET keyed = false"))
    plain = {row.email_hash: row.id for row in
             bind.execute(sa.text("SELECT id, email_hash FROM suppressions"))}
    if not plain:
        return
    key = current_app.config["SUPPRESSION_KEY"].encode()
    keys = bind.execute(sa.text("SELECT email_key FROM subscribers")).scalars().all()
    for email_key in keys:
        row_id = plain.get(hashlib.sha256(email_key.encode()).hexdigest())
        if row_id is not None:
            keyed = hmac.new(key, email_key.encode(), hashlib.sha256).hexdigest()
            bind.execute(sa.text("UPDATE suppressions SET email_hash = :hash, keyed = true "
                                 "WHERE id = :id"), {"hash": keyed, "id": row_id})


def downgrade():
    op.drop_table("job_runs")
    op.drop_index(op.f("ix_send_stamps_at"), table_name="send_stamps")
    op.drop_table("send_stamps")
    op.drop_table("send_pace")
    # Keyed hashes stay keyed: without the addresses they cannot be turned back.
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("keyed")
