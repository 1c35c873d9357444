"""counts: blind count sheets per location and their lines, posted by a second manager

Revision ID: 0003_counts
Revises: 0002_kits
Create Date: 2026-11-25

Written by autogenerate and reviewed; only the counts tables are here (the recall
tables have their own sibling revision off 0002_kits). Posting a count writes ADJUST
movements: the ledger stays the only record of stock, these tables only say what was
counted, by whom, who approved it, and what the ledger expected at posting.
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0003_counts'
down_revision = '0002_kits'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False, comment='one count sheet per location'),
    sa.Column('status', sa.Enum('draft', 'submitted', 'posted', name='count_status', native_enum=False, create_constraint=True, length=24), nullable=False, comment='draft, submitted, posted'),
    sa.Column('counted_by_id', sa.Integer(), nullable=False, comment='the manager who counted; may not post the count'),
    sa.Column('started_at', vt.UTCDateTime(timezone=True), nullable=False, comment='when the count sheet was started'),
    sa.Column('counted_at', vt.UTCDateTime(timezone=True), nullable=True, comment='when the counter submitted the sheet'),
    sa.Column('approved_by_id', sa.Integer(), nullable=True, comment='the second manager who reviewed and posted it'),
    sa.Column('posted_at', vt.UTCDateTime(timezone=True), nullable=True, comment='when the adjustments were written'),
    sa.Column('note', sa.Text(), nullable=True, comment='free text from the counter'),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("(status = 'posted') = (posted_at IS NOT NULL AND approved_by_id IS NOT NULL)", name=op.f('ck_counts_posted_has_approver')),
    sa.CheckConstraint("status = 'draft' OR counted_at IS NOT NULL", name=op.f('ck_counts_submitted_has_counted_at')),
    sa.CheckConstraint('approved_by_id IS NULL OR approved_by_id <> counted_by_id', name=op.f('ck_counts_approver_is_not_counter')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_counts_approved_by_id_users')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_counts_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['counted_by_id'], ['users.id'], name=op.f('fk_counts_counted_by_id_users')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_counts_location_id_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counts'))
    )
    with op.batch_alter_table('counts', schema=None) as batch_op:
        batch_op.create_index('ix_counts_clinic_status', ['clinic_id', 'status'], unique=False)
        batch_op.create_index('ix_counts_location_posted', ['location_id', 'posted_at'], unique=False)

    op.create_table('count_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('count_id', sa.Integer(), nullable=False),
    sa.Column('container_id', sa.Integer(), nullable=True, comment='the container counted; empty for a lot line'),
    sa.Column('lot_id', sa.Integer(), nullable=False, comment="the lot counted (a container line: the container's lot)"),
    sa.Column('counted', vt.Quantity(precision=14, scale=4), nullable=False, comment="what the counter found, in the product's base unit"),
    sa.Column('containers_counted', sa.Integer(), nullable=True, comment="sealed containers found (lot lines; a sealed container's line: 1 or 0)"),
    sa.Column('expected', vt.Quantity(precision=14, scale=4), nullable=True, comment='what the ledger held, captured when the count was posted'),
    sa.Column('expected_containers', sa.Integer(), nullable=True, comment='sealed containers the ledger held at posting'),
    sa.Column('variance', vt.Quantity(precision=14, scale=4), nullable=True, comment='counted - expected, captured at posting'),
    sa.Column('scanned_code', sa.String(length=200), nullable=True, comment='what the scanner typed, if scanned'),
    sa.Column('entered_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(expected IS NULL AND variance IS NULL) OR variance = counted - expected', name=op.f('ck_count_lines_variance_is_difference')),
    sa.CheckConstraint('containers_counted IS NULL OR containers_counted >= 0', name=op.f('ck_count_lines_containers_counted_not_negative')),
    sa.CheckConstraint('counted >= 0', name=op.f('ck_count_lines_counted_not_negative')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_count_lines_container_id_containers')),
    sa.ForeignKeyConstraint(['count_id'], ['counts.id'], name=op.f('fk_count_lines_count_id_counts')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_count_lines_lot_id_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_lines')),
    sa.UniqueConstraint('count_id', 'container_id', name=op.f('uq_count_lines_count_id'))
    )
    with op.batch_alter_table('count_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_count_lines_container_id'), ['container_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_count_lines_count_id'), ['count_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_count_lines_lot_id'), ['lot_id'], unique=False)


def downgrade():
    with op.batch_alter_table('count_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_count_lines_lot_id'))
        batch_op.drop_index(batch_op.f('ix_count_lines_count_id'))
        batch_op.drop_index(batch_op.f('ix_count_lines_container_id'))

    op.drop_table('count_lines')
    with op.batch_alter_table('counts', schema=None) as batch_op:
        batch_op.drop_index('ix_counts_location_posted')
        batch_op.drop_index('ix_counts_clinic_status')

    op.drop_table('counts')
