"""open treatments index: the cart's open treatments read from a partial index

Revision ID: 0026_open_treatments_index
Revises: 0025_product_name_key
Create Date: 2026-12-05

The cart lists the newest open treatments of the caller's clinics and says how many are open. Both read
ix_treatments_clinic_started, which holds every treatment the clinic ever had: counting the open ones walked the
clinic's years of closed treatments, and so did the list whenever fewer than a page were open (the usual case),
to be sure no older one was. A partial index of the open treatments alone (clinic, started, id) serves both
from the handful still open. Downgrade drops it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_open_treatments_index'
down_revision = '0025_product_name_key'
branch_labels = None
depends_on = None

OPEN = 'closed_at IS NULL'


def upgrade():
    with op.batch_alter_table('treatments', recreate='never') as batch_op:
        batch_op.create_index('ix_treatments_open', ['clinic_id', 'started_at', 'id'], unique=False,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade():
    with op.batch_alter_table('treatments', recreate='never') as batch_op:
        batch_op.drop_index('ix_treatments_open', postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
