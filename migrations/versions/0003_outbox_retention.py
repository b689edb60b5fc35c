"""Outbox retention: a sent mail keeps no bytes, address or subject; rows carry the hashes
of their recipient and of the person they are about, so an erasure finds them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_mails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_hash", sa.Text(), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("about_hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("message", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.create_index(batch_op.f("ix_outbox_mails_about_hash"), ["about_hash"],
                              unique=False)
    # Mails sent before this revision: their content goes now, as it would have then.
    op.execute("UPDATE outbox_mails SET message = NULL, recipients = '', subject = '' "
               "WHERE status = 'sent'")


def downgrade():
    op.execute("UPDATE outbox_mails SET message = '' WHERE message IS NULL")
    with op.batch_alter_table("outbox_mails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_mails_about_hash"))
        batch_op.alter_column("message", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("about_hash")
        batch_op.drop_column("recipient_hash")
