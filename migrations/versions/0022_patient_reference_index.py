"""patient reference index: a patient's reference is found across the chain by an index

Revision ID: 0022_patient_reference_index
Revises: 0021_transfer_missing_items
Create Date: 2026-12-05

A code that is not a vial's is asked whether it is a patient's card (inventory/services/scanning.py), and the
API's ``patient_ref`` names a patient by reference: for a user who works at every clinic neither look-up names
the clinics, so the unique index on (clinic_id, external_ref) could not serve it and each read every patient of
the chain (8 ms at 40,000 patients, `bench scan`; a chain holds millions). An index on the reference alone
serves them; a nurse's look-ups, which name her clinics, keep the unique index.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022_patient_reference_index'
down_revision = '0021_transfer_missing_items'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_patients_external_ref', 'patients', ['external_ref'])


def downgrade():
    op.drop_index('ix_patients_external_ref', table_name='patients')
