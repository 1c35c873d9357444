"""chain head: each container carries the row_hash of its newest movement

Revision ID: 0013_chain_head
Revises: 0012_follow_ups
Create Date: 2026-12-03

A new movement chains to its container's newest movement (audit_chain.py). That hash was read with one
statement per stock change; it now sits on the container row, which every stock change locks and updates
anyway (the cached balance), so it is read with the lock and written with the balance. Each container
keeps its own head: unrelated containers never wait for each other. ``vialog verify`` checks every head
against the ledger. A plain nullable column (NULL: no movement yet), added in place on both databases
(rebuilding containers on SQLite would break the foreign keys of movements and draws, as 0007 explains),
and back-filled from the ledger in one statement.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_chain_head'
down_revision = '0012_follow_ups'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('chain_head', sa.String(length=64), nullable=True,
                                      comment="row_hash of the container's newest movement; NULL before its first"))
    op.execute(
        "UPDATE containers SET chain_head = (SELECT m.row_hash FROM movements m WHERE m.container_id = containers.id "
        "ORDER BY m.id DESC LIMIT 1)"
    )


def downgrade():
    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('chain_head')
