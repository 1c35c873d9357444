"""transfer missing items: a transfer is received with some of its containers declared missing in transit

Revision ID: 0021_transfer_missing_items
Revises: 0020_quarantine_watched_lots
Create Date: 2026-12-08

The destination receives what arrived and declares the rest missing in transit, in one transaction
(inventory/transfers/service.py ``receive`` with ``missing`` or ``arrived``): each missing container's
TRANSFER_OUT is reversed at the source and the container wasted there (reason ``missing_in_transit``), so the
loss is the sender's, where the stock was last, and the transfer ends 'received'. The new table
transfer_missing_items holds one row per container declared missing: its transfer item, the two movements
(each names one movement only) and the receiver's reason. Who declared it and when are the transfer's receiver
and receipt.

A table of its own, rather than new columns of transfers or transfer_items: neither table is rebuilt on SQLite,
and a transfer reads the same with or without this revision's table (nothing but a declaration reads it).

Downgrade refuses while a container is recorded missing: before 0021 nothing says it never arrived, and its
transfer would read as received whole. (The ledger keeps its reversal and ``missing_in_transit`` waste, and the
audit trail the declaration, ``transfer.items_missing``, either way.)
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0021_transfer_missing_items'
down_revision = '0020_quarantine_watched_lots'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('transfer_missing_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False, comment="the transfer's item that never arrived"),
    sa.Column('reversal_movement_id', BIG_ID, nullable=False,
              comment="the REVERSAL of its TRANSFER_OUT at the source (also the item's in_movement_id)"),
    sa.Column('waste_movement_id', BIG_ID, nullable=False,
              comment='the WASTE (reason missing_in_transit) that wrote it off at the source'),
    sa.Column('reason', sa.Text(), nullable=False, comment="the destination's words on what did not arrive"),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'),
              nullable=False),
    sa.CheckConstraint('reversal_movement_id <> waste_movement_id',
                       name=op.f('ck_transfer_missing_items_two_movements')),
    sa.ForeignKeyConstraint(['item_id'], ['transfer_items.id'],
                            name=op.f('fk_transfer_missing_items_item_id_transfer_items')),
    sa.ForeignKeyConstraint(['reversal_movement_id'], ['movements.id'],
                            name=op.f('fk_transfer_missing_items_reversal_movement_id_movements')),
    sa.ForeignKeyConstraint(['waste_movement_id'], ['movements.id'],
                            name=op.f('fk_transfer_missing_items_waste_movement_id_movements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_missing_items')),
    sa.UniqueConstraint('item_id', name=op.f('uq_transfer_missing_items_item_id')),
    sa.UniqueConstraint('reversal_movement_id', name=op.f('uq_transfer_missing_items_reversal_movement_id')),
    sa.UniqueConstraint('waste_movement_id', name=op.f('uq_transfer_missing_items_waste_movement_id'))
    )


def downgrade():
    missing = op.get_bind().exec_driver_sql('SELECT count(*) FROM transfer_missing_items').scalar()
    if missing:
        raise RuntimeError(
            f'{missing} container(s) were declared missing in transit: before 0021 nothing can say so, and their '
            'transfers would read as received whole. Stay on 0021 or later.'
        )
    op.drop_table('transfer_missing_items')
