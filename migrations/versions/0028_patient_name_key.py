"""patient name key: the Patients page finds a name whatever its accents and case

Revision ID: 0028_patient_name_key
Revises: 0027_supplier_name_key
Create Date: 2026-12-05

The Patients page compared each typed word with the name by SQL (I)LIKE, which folds ASCII case only: "elodie"
did not find Élodie Dupont. PostgreSQL has no unaccent without an extension, and folding every name in Python per
search read every patient of the caller's clinics (about 60 ms at 8,000 patients, growing with the chain, against
2-3 ms for a LIKE over a column). patients.name_key holds the name as a search reads it (inventory/patient_refs.py
``name_search_key``: NFKD, case folded, combining marks dropped), set as a patient is added; each typed word is
folded the same way and looked for in it. Not indexed: a word anywhere in a name is a scan whatever the index.

The column is added NOT NULL with an empty default so SQLite adds it in place (no rebuild of the table the
treatments, draws and recalls point at), then filled in slices of 5,000 patients; PostgreSQL drops the default
afterwards, SQLite keeps it (as 0023 did for ref_key), which only a hand-written INSERT could use.
Downgrade drops the column.
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028_patient_name_key'
down_revision = '0027_supplier_name_key'
branch_labels = None
depends_on = None

SLICE = 5000
PATIENTS = sa.table('patients', sa.column('id', sa.Integer), sa.column('name', sa.String),
                    sa.column('name_key', sa.Text))


def _key(name):
    """Frozen copy of inventory.patient_refs.name_search_key as of this revision."""
    decomposed = unicodedata.normalize('NFKD', unicodedata.normalize('NFKD', name).casefold())
    return unicodedata.normalize('NFC', ''.join(c for c in decomposed if not unicodedata.combining(c)))


def upgrade():
    bind = op.get_bind()
    with op.batch_alter_table('patients', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'name_key', sa.Text(), server_default='', nullable=False,
            comment='what the name reads as to a search (inventory/patient_refs.py): Élodie, elodie and ELODIE alike'))
    after = 0
    while True:
        rows = bind.execute(sa.select(PATIENTS.c.id, PATIENTS.c.name).where(PATIENTS.c.id > after)
                            .order_by(PATIENTS.c.id).limit(SLICE)).all()
        if not rows:
            break
        bind.execute(PATIENTS.update().where(PATIENTS.c.id == sa.bindparam('patient_id'))
                     .values(name_key=sa.bindparam('key')),
                     [{'patient_id': row.id, 'key': _key(row.name)} for row in rows])
        after = rows[-1].id
    if bind.dialect.name == 'postgresql':
        op.alter_column('patients', 'name_key', server_default=None)


def downgrade():
    with op.batch_alter_table('patients', recreate='never') as batch_op:
        batch_op.drop_column('name_key')
