"""recall: recall cases, their lots, the patient notification list and the container list

Revision ID: 0003_recall
Revises: 0002_kits
Create Date: 2026-11-25

Written by autogenerate and reviewed. A sibling of 0003_counts (both off 0002_kits):
init-db and the tests upgrade to "heads". Lot status itself is not new: lots.status
already holds active / quarantined / recalled; these tables record the cases and the
work lists a recall creates. Each patient and container line carries its clinic, so
a clinic-level safety lead's queries are scoped by one column.
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0003_recall'
down_revision = '0002_kits'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recall_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False, comment="what the notice says, in the safety lead's words"),
    sa.Column('recall_class', sa.Enum('I', 'II', 'III', name='recall_class', native_enum=False, create_constraint=True, length=24), nullable=False, comment='FDA class: I serious, II reversible, III unlikely harm'),
    sa.Column('source', sa.Enum('manufacturer', 'regulator', 'internal', name='recall_source', native_enum=False, create_constraint=True, length=24), nullable=False, comment='who raised it: manufacturer, regulator or internal'),
    sa.Column('status', sa.Enum('open', 'closed', name='recall_status', native_enum=False, create_constraint=True, length=24), nullable=False, comment='closed only when no patient is pending and no container open'),
    sa.Column('opened_by_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', vt.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name=op.f('ck_recall_cases_closed_has_closed_at')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_recall_cases_closed_by_id_users')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_recall_cases_opened_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_cases'))
    )
    with op.batch_alter_table('recall_cases', schema=None) as batch_op:
        batch_op.create_index('ix_recall_cases_status_opened', ['status', 'opened_at'], unique=False)

    op.create_table('recall_lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False, comment='unique with lot_id'),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('previous_status', sa.Enum('active', 'quarantined', 'recalled', name='lot_status', native_enum=False, create_constraint=True, length=24), nullable=False, comment="the lot's status before the recall (active or quarantined)"),
    sa.ForeignKeyConstraint(['case_id'], ['recall_cases.id'], name=op.f('fk_recall_lots_case_id_recall_cases')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_recall_lots_lot_id_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_lots')),
    sa.UniqueConstraint('case_id', 'lot_id', name=op.f('uq_recall_lots_case_id'))
    )
    with op.batch_alter_table('recall_lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_lots_lot_id'), ['lot_id'], unique=False)

    op.create_table('recall_patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False, comment='unique with patient_id'),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False, comment="the patient's clinic: who may see and work this line"),
    sa.Column('status', sa.Enum('pending', 'notified', 'unreachable', name='notification_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('method', sa.Enum('phone', 'email', 'letter', 'in_person', name='notification_method', native_enum=False, create_constraint=True, length=24), nullable=True, comment='how the patient was told, when notified'),
    sa.Column('note', sa.Text(), nullable=True, comment='what was said or tried'),
    sa.Column('updated_by_id', sa.Integer(), nullable=True, comment='who set the status last'),
    sa.Column('updated_at', vt.UTCDateTime(timezone=True), nullable=True, comment='when the status was last set'),
    sa.CheckConstraint("status <> 'notified' OR method IS NOT NULL", name=op.f('ck_recall_patients_notified_has_method')),
    sa.ForeignKeyConstraint(['case_id'], ['recall_cases.id'], name=op.f('fk_recall_patients_case_id_recall_cases')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_recall_patients_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_recall_patients_patient_id_patients')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_recall_patients_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_patients')),
    sa.UniqueConstraint('case_id', 'patient_id', name=op.f('uq_recall_patients_case_id'))
    )
    with op.batch_alter_table('recall_patients', schema=None) as batch_op:
        batch_op.create_index('ix_recall_patients_case_status', ['case_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_recall_patients_patient_id'), ['patient_id'], unique=False)

    op.create_table('recall_containers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False, comment='unique with container_id'),
    sa.Column('container_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False, comment="the container's clinic: who may see and work this line"),
    sa.Column('status', sa.Enum('open', 'returned', 'destroyed', name='recall_container_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True, comment='who set the status last'),
    sa.Column('updated_at', vt.UTCDateTime(timezone=True), nullable=True, comment='when the status was last set'),
    sa.ForeignKeyConstraint(['case_id'], ['recall_cases.id'], name=op.f('fk_recall_containers_case_id_recall_cases')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_recall_containers_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_recall_containers_container_id_containers')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_recall_containers_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_containers')),
    sa.UniqueConstraint('case_id', 'container_id', name=op.f('uq_recall_containers_case_id'))
    )
    with op.batch_alter_table('recall_containers', schema=None) as batch_op:
        batch_op.create_index('ix_recall_containers_case_status', ['case_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_recall_containers_container_id'), ['container_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recall_containers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_containers_container_id'))
        batch_op.drop_index('ix_recall_containers_case_status')

    op.drop_table('recall_containers')
    with op.batch_alter_table('recall_patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_patients_patient_id'))
        batch_op.drop_index('ix_recall_patients_case_status')

    op.drop_table('recall_patients')
    with op.batch_alter_table('recall_lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_lots_lot_id'))

    op.drop_table('recall_lots')
    with op.batch_alter_table('recall_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_recall_cases_status_opened')

    op.drop_table('recall_cases')
