"""performance: partial indexes for live stock by place and for emergency kit use

Revision ID: 0005_performance
Revises: 0004_merge
Create Date: 2026-11-25

Measured at chain scale (100 clinics x 5 years: 3.8 million containers, 16 million movements;
docs/performance.md): kit readiness for 1,000 kits scanned every container for the kits' live
stock and the whole ledger for emergency draws (a parallel sequential scan of 16 million rows
that finds nothing). Both queries now read small partial indexes holding only the rows they
want: live containers (sealed or in use, something left) and emergency draws.

On a large existing database each CREATE INDEX reads its table once and blocks writes to it
while it runs (seconds for these small partial indexes); run the upgrade in a quiet hour.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_performance'
down_revision = '0004_merge'
branch_labels = None
depends_on = None

LIVE_STOCK = "state IN ('sealed', 'in_use') AND remaining > 0"
EMERGENCY_DRAW = "kind = 'draw' AND reason = 'emergency'"


def upgrade():
    op.create_index('ix_containers_live_location', 'containers', ['location_id', 'lot_id'], unique=False,
                    postgresql_where=sa.text(LIVE_STOCK), sqlite_where=sa.text(LIVE_STOCK),
                    postgresql_include=['remaining'])
    op.create_index('ix_movements_emergency_location_at', 'movements', ['location_id', 'at'], unique=False,
                    postgresql_where=sa.text(EMERGENCY_DRAW), sqlite_where=sa.text(EMERGENCY_DRAW))


def downgrade():
    op.drop_index('ix_movements_emergency_location_at', table_name='movements')
    op.drop_index('ix_containers_live_location', table_name='containers')
