"""patient ref key: what a patient's reference reads as, stored and indexed

Revision ID: 0023_patient_ref_key
Revises: 0022_patient_reference_index
Create Date: 2026-12-05

A new patient's reference is refused when it reads as one already on file at the clinic ("p 1001" for P-1001),
and a reference typed loosely finds its patient (inventory/cart/service.py). Both compared keys in Python after
SQL had stripped what it could, so each read every patient of the clinic whose reference held anything but
printable ASCII, and every patient whose stripped reference matched: 13-16 ms at 27,000 patients, growing with
the chain. patients.ref_key holds the key (inventory/patient_refs.py ``ref_key``), set as a patient is added;
an index on it makes both one seek.

The column is added NOT NULL with an empty default so SQLite adds it in place (no rebuild of the table the
treatments, draws and recalls point at), then filled in slices of 5,000 patients; PostgreSQL drops the default
afterwards, SQLite keeps it (0016 did the same for users), which only a hand-written INSERT could use.
Downgrade drops the column and its index.
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_patient_ref_key'
down_revision = '0022_patient_reference_index'
branch_labels = None
depends_on = None

KEY_LENGTH = 192
SLICE = 5000
PATIENTS = sa.table('patients', sa.column('id', sa.Integer), sa.column('external_ref', sa.String),
                    sa.column('ref_key', sa.String))


def _key(ref):
    """Frozen copy of inventory.patient_refs.ref_key as of this revision."""
    visible = ''.join(character for character in ref if unicodedata.category(character) != 'Cf')
    folded = unicodedata.normalize('NFKC', unicodedata.normalize('NFKC', visible).casefold())
    return ''.join(character for character in folded if not (
        character in (' ', '-', '.', '/', '_') or character == '\u2212'
        or unicodedata.category(character) in ('Pd', 'Zs')))


def upgrade():
    bind = op.get_bind()
    with op.batch_alter_table('patients', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'ref_key', sa.String(length=KEY_LENGTH), server_default='', nullable=False,
            comment="what the reference reads as (inventory/patient_refs.py): P-1001, p 1001 and P–1001 alike"))
    after = 0
    while True:
        rows = bind.execute(sa.select(PATIENTS.c.id, PATIENTS.c.external_ref).where(PATIENTS.c.id > after)
                            .order_by(PATIENTS.c.id).limit(SLICE)).all()
        if not rows:
            break
        keys = [{'patient_id': row.id, 'key': _key(row.external_ref)} for row in rows]
        too_long = [key['patient_id'] for key in keys if len(key['key']) > KEY_LENGTH]
        if too_long:
            raise RuntimeError(f'Patient references that read as more than {KEY_LENGTH} characters: patient ids '
                               f'{too_long[:20]}. Correct them before upgrading; nothing was changed.')
        bind.execute(PATIENTS.update().where(PATIENTS.c.id == sa.bindparam('patient_id'))
                     .values(ref_key=sa.bindparam('key')), keys)
        after = rows[-1].id
    with op.batch_alter_table('patients', recreate='never') as batch_op:
        batch_op.create_index('ix_patients_ref_key', ['ref_key'])
    if bind.dialect.name == 'postgresql':
        op.alter_column('patients', 'ref_key', server_default=None)


def downgrade():
    with op.batch_alter_table('patients', recreate='never') as batch_op:
        batch_op.drop_index('ix_patients_ref_key')
        batch_op.drop_column('ref_key')
