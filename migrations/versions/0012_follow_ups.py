"""follow-ups: a treatment's follow-up is marked done, and the due list has its index

Revision ID: 0012_follow_ups
Revises: 0011_tamper_evident
Create Date: 2026-12-03

Treatments already carry the follow-up date (0007); the list of due follow-ups needs to know which
were done (who did it is the audit trail's treatment.follow_up_done event). A plain nullable column and
an index, added in place on both databases: rebuilding treatments on SQLite would break the foreign
keys of draws, containers and movements (as 0007 explains).
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt


# revision identifiers, used by Alembic.
revision = '0012_follow_ups'
down_revision = '0011_tamper_evident'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('treatments', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('follow_up_done_at', vt.UTCDateTime(timezone=True), nullable=True,
                                      comment='when the follow-up was done; NULL while it is due'))
        batch_op.create_index('ix_treatments_follow_up_due', ['clinic_id', 'follow_up_on'])


def downgrade():
    with op.batch_alter_table('treatments', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_treatments_follow_up_due')
        batch_op.drop_column('follow_up_done_at')
