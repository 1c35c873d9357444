"""adverse events linked to lots, rescue hyaluronidase, cold-chain excursions and container holds (issue 20)

Revision ID: 0010_adverse_events_cold_chain
Revises: 0009_recall_integrity
Create Date: 2026-12-03

New tables only, plus two plain columns: containers learn whether they are on hold (on_hold_since,
hold_reason: the lifecycle rules read them). Whether a location is temperature-sensitive came with
0008_administration. Both columns are added in place, on SQLite too (no table rebuild).
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0010_adverse_events_cold_chain'
down_revision = '0009_recall_integrity'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('excursions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('started_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('min_c', vt.Quantity(precision=14, scale=4), nullable=False, comment='lowest temperature seen, °C'),
    sa.Column('max_c', vt.Quantity(precision=14, scale=4), nullable=False, comment='highest temperature seen, °C'),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.Enum('manual', 'logger', name='excursion_source', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ended_at >= started_at', name=op.f('ck_excursions_ends_after_start')),
    sa.CheckConstraint('max_c >= min_c', name=op.f('ck_excursions_max_not_below_min')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_excursions_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_excursions_location_id_locations')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_excursions_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_excursions'))
    )
    with op.batch_alter_table('excursions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_excursions_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index('ix_excursions_location_started', ['location_id', 'started_at'], unique=False)

    op.create_table('adverse_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('treatment_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False, comment="the treatment's patient, copied"),
    sa.Column('kind', sa.Enum('vascular_occlusion', 'ptosis', 'nodule', 'infection', 'allergic_reaction', 'bruising_swelling', 'migration', 'other', name='adverse_event_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('severity', sa.Enum('mild', 'moderate', 'severe', 'serious', name='adverse_event_severity', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('outcome', sa.Enum('ongoing', 'recovering', 'resolved', 'resolved_with_sequelae', 'unknown', name='adverse_event_outcome', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('follow_up_notes', sa.Text(), nullable=True),
    sa.Column('patient_sex', sa.Enum('female', 'male', 'other', 'unknown', name='patient_sex', native_enum=False, create_constraint=True, length=24), nullable=True, comment='asked by MedWatch and the Yellow Card'),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vt.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_adverse_events_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_adverse_events_patient_id_patients')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_adverse_events_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['treatment_id'], ['treatments.id'], name=op.f('fk_adverse_events_treatment_id_treatments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_events'))
    )
    with op.batch_alter_table('adverse_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_events_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adverse_events_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adverse_events_treatment_id'), ['treatment_id'], unique=False)

    op.create_table('adverse_event_containers',
    sa.Column('adverse_event_id', sa.Integer(), nullable=False),
    sa.Column('container_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False, comment="the container's lot, copied"),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_events.id'], name=op.f('fk_adverse_event_containers_adverse_event_id_adverse_events')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_adverse_event_containers_container_id_containers')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_adverse_event_containers_lot_id_lots')),
    sa.PrimaryKeyConstraint('adverse_event_id', 'container_id', name=op.f('pk_adverse_event_containers'))
    )
    with op.batch_alter_table('adverse_event_containers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_containers_lot_id'), ['lot_id'], unique=False)

    op.create_table('container_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('excursion_id', sa.Integer(), nullable=False),
    sa.Column('container_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('held_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', vt.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('released', 'wasted', name='hold_outcome', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True, comment='why it was released or wasted'),
    sa.CheckConstraint('(outcome IS NULL) = (resolved_at IS NULL)', name=op.f('ck_container_holds_outcome_when_resolved')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_container_holds_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_container_holds_container_id_containers')),
    sa.ForeignKeyConstraint(['excursion_id'], ['excursions.id'], name=op.f('fk_container_holds_excursion_id_excursions')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_container_holds_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_container_holds'))
    )
    with op.batch_alter_table('container_holds', schema=None) as batch_op:
        batch_op.create_index('ix_container_holds_container_id', ['container_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_container_holds_excursion_id'), ['excursion_id'], unique=False)

    op.create_table('adverse_event_rescues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('adverse_event_id', sa.Integer(), nullable=False),
    sa.Column('draw_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['adverse_event_id'], ['adverse_events.id'], name=op.f('fk_adverse_event_rescues_adverse_event_id_adverse_events')),
    sa.ForeignKeyConstraint(['draw_id'], ['draws.id'], name=op.f('fk_adverse_event_rescues_draw_id_draws')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_event_rescues')),
    sa.UniqueConstraint('draw_id', name=op.f('uq_adverse_event_rescues_draw_id'))
    )
    with op.batch_alter_table('adverse_event_rescues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_event_rescues_adverse_event_id'), ['adverse_event_id'], unique=False)

    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('on_hold_since', vt.UTCDateTime(timezone=True), nullable=True, comment='set while the container is on hold; NULL when it may be used'))
        batch_op.add_column(sa.Column('hold_reason', sa.Text(), nullable=True, comment='why it is on hold, in words a nurse reads'))



def downgrade():
    # Plain columns, dropped in place (SQLite 3.35+): rebuilding containers on SQLite would trip the
    # foreign keys that point at them.
    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('hold_reason')
        batch_op.drop_column('on_hold_since')

    with op.batch_alter_table('adverse_event_rescues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_event_rescues_adverse_event_id'))

    op.drop_table('adverse_event_rescues')
    with op.batch_alter_table('container_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_container_holds_excursion_id'))
        batch_op.drop_index('ix_container_holds_container_id')

    op.drop_table('container_holds')
    with op.batch_alter_table('adverse_event_containers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_event_containers_lot_id'))

    op.drop_table('adverse_event_containers')
    with op.batch_alter_table('adverse_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_events_treatment_id'))
        batch_op.drop_index(batch_op.f('ix_adverse_events_patient_id'))
        batch_op.drop_index(batch_op.f('ix_adverse_events_clinic_id'))

    op.drop_table('adverse_events')
    with op.batch_alter_table('excursions', schema=None) as batch_op:
        batch_op.drop_index('ix_excursions_location_started')
        batch_op.drop_index(batch_op.f('ix_excursions_clinic_id'))

    op.drop_table('excursions')
