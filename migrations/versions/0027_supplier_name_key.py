"""supplier name key: a supplier's name and its licence number each belong to one supplier, in the database too

Revision ID: 0027_supplier_name_key
Revises: 0026_open_treatments_index
Create Date: 2026-12-05

Supplier names were unique only as typed ("acme  pharma" beside "Acme Pharma" got in), and licence numbers not at
all: a supplier stopped for selling counterfeits came back, authorised, under a copy of its name or licence, and
the receiving page offered the copy. suppliers.name_key and suppliers.licence_key hold the name and the licence as
they are compared (inventory/counterfeit/models.py ``supplier_key``: NFKC, case folded, letters and digits only;
a licence with none is NULL, as no licence is) under unique indexes, which refuse a second entry also in a race,
and each check is one seek.

A list that already holds two suppliers whose names, or licences, read alike is not changed: the upgrade stops
before any change and names them, for a chain-level manager to rename one of each pair (or correct a mistyped
licence) and upgrade again. Merging them would move receipts between suppliers, which only a person may decide.
name_key is added NOT NULL with an empty default so SQLite adds it in place (no rebuild of the table receipts
point at), then filled; PostgreSQL drops the default afterwards, SQLite keeps it (as 0025 did for products), which
only a hand-written INSERT could use. Downgrade drops the columns and their indexes.
"""
import unicodedata
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027_supplier_name_key'
down_revision = '0026_open_treatments_index'
branch_labels = None
depends_on = None

KEY_LENGTH = 480
SUPPLIERS = sa.table('suppliers', sa.column('id', sa.Integer), sa.column('name_key', sa.String),
                     sa.column('licence_key', sa.String))


def _key(text):
    """Frozen copy of inventory.counterfeit.models.supplier_key as of this revision."""
    return ''.join(c for c in unicodedata.normalize('NFKC', text).casefold() if unicodedata.category(c)[0] in 'LMN')


def _licence_key(licence):
    return (_key(licence) or None) if licence is not None else None


def _clashes(rows, key, what):
    by_key = defaultdict(list)
    for row in rows:
        if key(row) is not None:
            by_key[key(row)].append(row)
    return [f"{what} {' and '.join(f'{r.name!r} (id {r.id}, licence {r.licence!r})' for r in same)}"
            for same in by_key.values() if len(same) > 1]


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, name, licence FROM suppliers ORDER BY id')).all()
    clashes = (_clashes(rows, lambda r: _key(r.name), 'names that read alike:')
               + _clashes(rows, lambda r: _licence_key(r.licence), 'one licence:'))
    if clashes:
        raise RuntimeError(
            f"Suppliers that read as one: {'; '.join(clashes[:20])}. Case, spaces and punctuation aside, each pair "
            'has one name or one licence: the same supplier entered twice, or one passing for another (a stopped '
            'supplier back under a copy delivers again). A chain-level manager renames one of each pair, or '
            "corrects a mistyped licence, before upgrading, e.g. UPDATE suppliers SET name = 'Acme Pharma (old "
            "entry)', licence = NULL, is_authorised = false WHERE id = <id>; nothing was changed."
        )
    too_long = [r.id for r in rows
                if len(_key(r.name)) > KEY_LENGTH or len(_licence_key(r.licence) or '') > KEY_LENGTH]
    if too_long:
        raise RuntimeError(f'Supplier names or licences too long to compare: ids {too_long}: shorten them first; '
                           'nothing was changed.')

    with op.batch_alter_table('suppliers', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'name_key', sa.String(length=KEY_LENGTH), server_default='', nullable=False,
            comment="supplier_key(name): unique, so no two suppliers' names differ only in case, spaces or "
                    'punctuation'))
        batch_op.add_column(sa.Column(
            'licence_key', sa.String(length=KEY_LENGTH), nullable=True,
            comment='supplier_key(licence), NULL without one: unique, so a licence belongs to one supplier'))
    if rows:
        bind.execute(SUPPLIERS.update().where(SUPPLIERS.c.id == sa.bindparam('supplier_id'))
                     .values(name_key=sa.bindparam('new_name_key'), licence_key=sa.bindparam('new_licence_key')),
                     [{'supplier_id': r.id, 'new_name_key': _key(r.name), 'new_licence_key': _licence_key(r.licence)}
                      for r in rows])
    with op.batch_alter_table('suppliers', recreate='never') as batch_op:
        batch_op.create_index(batch_op.f('ix_suppliers_name_key'), ['name_key'], unique=True)
        batch_op.create_index(batch_op.f('ix_suppliers_licence_key'), ['licence_key'], unique=True)
    if bind.dialect.name == 'postgresql':
        op.alter_column('suppliers', 'name_key', server_default=None)


def downgrade():
    with op.batch_alter_table('suppliers', recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppliers_licence_key'))
        batch_op.drop_index(batch_op.f('ix_suppliers_name_key'))
        batch_op.drop_column('licence_key')
        batch_op.drop_column('name_key')
