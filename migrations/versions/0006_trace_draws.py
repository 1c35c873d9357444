"""trace draws: each draw carries its lot, patient and clinic, indexed for the lot and patient traces

Revision ID: 0006_trace_draws
Revises: 0005_performance
Create Date: 2026-11-25

Measured at chain scale (docs/performance.md, benchmark 1): a lot -> patients trace joined every
dose through containers and treatments to reach its lot, patient and clinic, several random index
probes per dose. A draw's container and treatment never change, so their lot, patient and clinic are
copied onto the draw in the draw's own transaction (inventory/services/cart.py) and never updated;
a trace then reads one range of ix_draws_lot_id (ix_draws_patient_id for a patient's trace).

Existing rows are back-filled set-based, one UPDATE for the three columns: on PostgreSQL an
UPDATE ... FROM (one hash join of draws, containers and treatments), on SQLite correlated
subqueries. The UPDATE writes a new version of every draw, and each new version would also go into
each of the table's four indexes (35 million random index inserts at chain scale): on PostgreSQL
they are dropped for the UPDATE and built again after it, 2.5 times faster on a 356,000-draw copy
(no foreign key points at draws, and the migration's lock keeps every reader and writer out
meanwhile). The new foreign keys are added after the back-fill, so they are checked with one join
each rather than once per updated row. Draws are not append-only guarded (0003_audit_chain guards
movements and audit_events only), so no trigger refuses the UPDATE.

On a large database this takes minutes (most of it the UPDATE) and locks draws until it commits:
run it in a quiet hour, then VACUUM ANALYZE draws (outside a transaction) to reclaim the old row
versions, give the planner the new columns' statistics and set the visibility map that lets a trace
read ix_draws_lot_id without visiting the table.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_trace_draws'
down_revision = '0005_performance'
branch_labels = None
depends_on = None

# What the lot trace reads from a draw besides its lot (Draw's TRACE_COLUMNS when this was written):
# ix_draws_lot_id carries them on PostgreSQL, so a trace reads one index range and no table rows.
TRACE_INCLUDE = ['id', 'movement_id', 'treatment_id', 'container_id', 'patient_id', 'clinic_id', 'injector_id', 'at',
                 'area', 'area_detail', 'quantity', 'quantity_ml', 'entered_unit', 'reason']

COMMENTS = {
    'lot_id': "the container's lot, copied at the draw",
    'patient_id': "the treatment's patient, copied at the draw",
    'clinic_id': "the treatment's clinic, copied at the draw",
}

_DRAWS = sa.table(
    'draws',
    sa.column('container_id', sa.Integer()), sa.column('treatment_id', sa.Integer()),
    sa.column('lot_id', sa.Integer()), sa.column('patient_id', sa.Integer()), sa.column('clinic_id', sa.Integer()),
)
_CONTAINERS = sa.table('containers', sa.column('id', sa.Integer()), sa.column('lot_id', sa.Integer()))
_TREATMENTS = sa.table(
    'treatments',
    sa.column('id', sa.Integer()), sa.column('patient_id', sa.Integer()), sa.column('clinic_id', sa.Integer()),
)


def upgrade():
    with op.batch_alter_table('draws', schema=None) as batch_op:
        for column, comment in COMMENTS.items():
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True, comment=comment))

    if op.get_bind().dialect.name == 'postgresql':
        _backfill_postgresql()
    else:
        _backfill_correlated()

    with op.batch_alter_table('draws', schema=None) as batch_op:
        for column, comment in COMMENTS.items():
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=False, existing_comment=comment)
        batch_op.create_foreign_key(batch_op.f('fk_draws_lot_id_lots'), 'lots', ['lot_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_draws_patient_id_patients'), 'patients', ['patient_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_draws_clinic_id_clinics'), 'clinics', ['clinic_id'], ['id'])
        batch_op.create_index('ix_draws_lot_id', ['lot_id'], unique=False, postgresql_include=TRACE_INCLUDE)
        batch_op.create_index('ix_draws_patient_id', ['patient_id'], unique=False)


def _backfill_postgresql():
    d, c, t = _DRAWS, _CONTAINERS, _TREATMENTS
    op.drop_index('ix_draws_treatment_id', table_name='draws')
    op.drop_index('ix_draws_container_id', table_name='draws')
    op.drop_constraint(op.f('uq_draws_movement_id'), 'draws', type_='unique')
    op.drop_constraint(op.f('pk_draws'), 'draws', type_='primary')
    op.execute(
        sa.update(d)
        .where(c.c.id == d.c.container_id, t.c.id == d.c.treatment_id)
        .values(lot_id=c.c.lot_id, patient_id=t.c.patient_id, clinic_id=t.c.clinic_id)
    )
    op.create_primary_key(op.f('pk_draws'), 'draws', ['id'])
    op.create_unique_constraint(op.f('uq_draws_movement_id'), 'draws', ['movement_id'])
    op.create_index('ix_draws_container_id', 'draws', ['container_id'], unique=False)
    op.create_index(op.f('ix_draws_treatment_id'), 'draws', ['treatment_id'], unique=False)


def _backfill_correlated():
    # SQLite (a clinic's own small database): one statement, a primary-key probe per draw and column.
    d, c, t = _DRAWS, _CONTAINERS, _TREATMENTS
    op.execute(
        sa.update(d).values(
            lot_id=sa.select(c.c.lot_id).where(c.c.id == d.c.container_id).scalar_subquery(),
            patient_id=sa.select(t.c.patient_id).where(t.c.id == d.c.treatment_id).scalar_subquery(),
            clinic_id=sa.select(t.c.clinic_id).where(t.c.id == d.c.treatment_id).scalar_subquery(),
        )
    )


def downgrade():
    with op.batch_alter_table('draws', schema=None) as batch_op:
        batch_op.drop_index('ix_draws_patient_id')
        batch_op.drop_index('ix_draws_lot_id')
        batch_op.drop_constraint(batch_op.f('fk_draws_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_draws_patient_id_patients'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_draws_lot_id_lots'), type_='foreignkey')
        for column in reversed(COMMENTS):
            batch_op.drop_column(column)
