"""kits: templates, requirements, kits at kit locations, checks; movements by location and time

Revision ID: 0002_kits
Revises: 0001_foundation
Create Date: 2026-11-25

Written by autogenerate and reviewed. A kit's contents are not a table: they are the
containers at the kit's location, so the ledger stays the only record of stock.
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0002_kits'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kit_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False, comment="e.g. 'Vascular occlusion kit'"),
    sa.Column('description', sa.Text(), nullable=False, comment='what the kit is for, shown to nurses'),
    sa.Column('check_interval_days', sa.Integer(), nullable=False, comment='a kit not checked for longer than this is not ready'),
    sa.Column('warning_days', sa.Integer(), nullable=False, comment='horizon before counted stock stops counting: the kit is then expiring soon'),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('check_interval_days > 0', name=op.f('ck_kit_templates_positive_check_interval')),
    sa.CheckConstraint('warning_days >= 0', name=op.f('ck_kit_templates_warning_days_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kit_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_kit_templates_name'))
    )
    op.create_table('kit_requirements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False, comment="what a nurse calls it, e.g. 'Hyaluronidase'"),
    sa.Column('product_id', sa.Integer(), nullable=True, comment='this exact product; or else product_kind'),
    sa.Column('product_kind', sa.Enum('neuromodulator', 'filler', 'hyaluronidase', 'supply', name='product_kind', native_enum=False, create_constraint=True, length=24), nullable=True, comment='any one product of this kind; units of different products are never added'),
    sa.Column('min_quantity', vt.Quantity(precision=14, scale=4), nullable=False, comment="in the product's base unit"),
    sa.Column('min_days_to_expiry', sa.Integer(), nullable=False, comment='stock counts only if it expires at least this many days from today'),
    sa.CheckConstraint('(product_id IS NULL AND product_kind IS NOT NULL) OR (product_id IS NOT NULL AND product_kind IS NULL)', name=op.f('ck_kit_requirements_product_or_kind')),
    sa.CheckConstraint('min_days_to_expiry >= 0', name=op.f('ck_kit_requirements_min_days_not_negative')),
    sa.CheckConstraint('min_quantity > 0', name=op.f('ck_kit_requirements_positive_min_quantity')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_kit_requirements_product_id_products')),
    sa.ForeignKeyConstraint(['template_id'], ['kit_templates.id'], name=op.f('fk_kit_requirements_template_id_kit_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kit_requirements'))
    )
    with op.batch_alter_table('kit_requirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kit_requirements_template_id'), ['template_id'], unique=False)

    op.create_table('kits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False, comment='indexed by (clinic_id, name)'),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False, comment='unique within the clinic'),
    sa.Column('location_id', sa.Integer(), nullable=False, comment="a location of kind 'kit': its containers are the contents"),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_kits_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_kits_location_id_locations')),
    sa.ForeignKeyConstraint(['template_id'], ['kit_templates.id'], name=op.f('fk_kits_template_id_kit_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kits')),
    sa.UniqueConstraint('clinic_id', 'name', name=op.f('uq_kits_clinic_id')),
    sa.UniqueConstraint('location_id', name=op.f('uq_kits_location_id'))
    )
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kits_template_id'), ['template_id'], unique=False)

    op.create_table('kit_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.Integer(), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=False),
    sa.Column('checked_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seal_intact', sa.Boolean(), nullable=False, comment='false: the seal was found broken'),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('ready', 'expiring_soon', 'not_ready', name='kit_status', native_enum=False, create_constraint=True, length=24), nullable=False, comment='readiness computed when the check was recorded'),
    sa.Column('reasons', sa.JSON(), nullable=False, comment='the reasons behind that status: [{code, text, data}]'),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_kit_checks_checked_by_id_users')),
    sa.ForeignKeyConstraint(['kit_id'], ['kits.id'], name=op.f('fk_kit_checks_kit_id_kits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kit_checks'))
    )
    with op.batch_alter_table('kit_checks', schema=None) as batch_op:
        batch_op.create_index('ix_kit_checks_kit_checked', ['kit_id', 'checked_at'], unique=False)

    with op.batch_alter_table('movements', schema=None) as batch_op:
        batch_op.create_index('ix_movements_location_at', ['location_id', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('movements', schema=None) as batch_op:
        batch_op.drop_index('ix_movements_location_at')

    with op.batch_alter_table('kit_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_kit_checks_kit_checked')

    op.drop_table('kit_checks')
    with op.batch_alter_table('kits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kits_template_id'))

    op.drop_table('kits')
    with op.batch_alter_table('kit_requirements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kit_requirements_template_id'))

    op.drop_table('kit_requirements')
    op.drop_table('kit_templates')
