"""administration: sessions that end on the server, password resets, location and clinic settings

Revision ID: 0008_administration
Revises: 0007_clinical_safety
Create Date: 2026-12-03

Users gain a session version, copied into each page session at sign-in and compared on every request
(inventory/blueprints/pages/core.py): raising it ends every page session of that user at once, which a
cookie-only session cannot do. must_change_password is set by an admin's reset. Locations say whether
their temperature matters (an excursion there puts stock on hold); clinics keep their kit warning
horizon beside filler_hold_days; products their volume per container for liquids and gels.

Only plain columns with server defaults are added, so every row keeps a valid value and SQLite adds them
in place (ALTER TABLE ADD COLUMN) without rebuilding a table. The downgrade drops them again.
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0008_administration'
down_revision = '0007_clinical_safety'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'session_version', sa.Integer(), server_default=sa.text('1'), nullable=False,
            comment='copied into each page session at sign-in; raising it ends every page session of the user'))
        batch_op.add_column(sa.Column(
            'must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False,
            comment='an admin reset the password: a new one is set at next sign-in'))
    with op.batch_alter_table('locations', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'temperature_sensitive', sa.Boolean(), server_default=sa.false(), nullable=False,
            comment='a fridge or other place whose temperature matters: an excursion there puts stock on hold'))
    with op.batch_alter_table('clinics', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'kit_warning_days', sa.Integer(), server_default=sa.text('30'), nullable=False,
            comment="the clinic's warning horizon for emergency-kit stock, in days (DOMAIN.md: default 30)"))
    with op.batch_alter_table('products', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'volume_ml', vt.Quantity(precision=14, scale=4), nullable=True,
            comment='mL in one container of a liquid or gel (a 1 mL syringe, a 2 mL vial)'))
    # Fridges are where temperature matters; the other kinds are set by a manager where it does.
    op.execute("UPDATE locations SET temperature_sensitive = true WHERE kind = 'fridge'")


def downgrade():
    with op.batch_alter_table('products', recreate='never') as batch_op:
        batch_op.drop_column('volume_ml')
    with op.batch_alter_table('clinics', recreate='never') as batch_op:
        batch_op.drop_column('kit_warning_days')
    with op.batch_alter_table('locations', recreate='never') as batch_op:
        batch_op.drop_column('temperature_sensitive')
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('session_version')
