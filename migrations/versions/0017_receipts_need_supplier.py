"""receipts need supplier: a clinic may refuse a receipt that does not name who delivered the box

Revision ID: 0017_receipts_need_supplier
Revises: 0016_username_key
Create Date: 2026-12-06

Every receipt names its supplier and only authorised suppliers deliver (DOMAIN.md "Counterfeits, suppliers
and the cold chain"). The receiving page requires one, but the contract's POST /api/v1/receipts body
predates suppliers and integrations send it without one, so the API cannot require it for everyone.
clinics.receipts_need_supplier lets an admin close that gap clinic by clinic once its integrations send
supplier_id (inventory/receiving/service.py refuses a receipt without one there, page and API alike).

Every clinic starts with it off, so no client that works today is refused after the upgrade. The column is
added NOT NULL with a server default of false, so SQLite adds it in place (ALTER TABLE ADD COLUMN, no table
rebuild) and every row has a value; the default stays on both databases, as the model declares it.
Downgrade drops the column (the setting is lost, receipts stay as they were).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_receipts_need_supplier'
down_revision = '0016_username_key'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clinics', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'receipts_need_supplier', sa.Boolean(), server_default=sa.false(), nullable=False,
            comment='a receipt at this clinic must name its supplier (DOMAIN.md: only authorised suppliers)'))


def downgrade():
    with op.batch_alter_table('clinics', recreate='never') as batch_op:
        batch_op.drop_column('receipts_need_supplier')
