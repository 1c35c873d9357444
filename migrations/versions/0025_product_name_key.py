"""product name key: product names are unique whatever their case and spacing, in the database too

Revision ID: 0025_product_name_key
Revises: 0024_transfer_lost
Create Date: 2026-12-05

Product names were unique only as typed in the database; the catalog service refused "botox cosmetic 100U"
beside "Botox Cosmetic 100 U" by reading every name, so two admins adding the two at once both got in: one
product in two entries, its stock, lots and dose history split between them. products.name_key holds the
name as names are compared (inventory/models/catalog.py ``product_name_key``: NFKC, case folded, spaces
dropped) under a unique index, which refuses the second entry also in a race, and the check is one seek.

A catalog that already holds two such names is not changed: the upgrade stops before any change and names
the products, for an admin to rename one of each pair and upgrade again (merging them would move stock and
history between products, which only a person may decide). The column is added NOT NULL with an empty
default so SQLite adds it in place (no rebuild of the table lots, containers and draws point at), then
filled; PostgreSQL drops the default afterwards, SQLite keeps it (as 0016 did for users), which only a
hand-written INSERT could use. Downgrade drops the column and its index.
"""
import unicodedata
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_product_name_key'
down_revision = '0024_transfer_lost'
branch_labels = None
depends_on = None

KEY_LENGTH = 480
PRODUCTS = sa.table('products', sa.column('id', sa.Integer), sa.column('name_key', sa.String))


def _key(name):
    """Frozen copy of inventory.models.catalog.product_name_key as of this revision."""
    return ''.join(unicodedata.normalize('NFKC', name).casefold().split())


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, name FROM products ORDER BY id')).all()
    by_key = defaultdict(list)
    for row in rows:
        by_key[_key(row.name)].append(row)
    clashes = [same for same in by_key.values() if len(same) > 1]
    if clashes:
        listed = '; '.join(' and '.join(f'{r.name!r} (id {r.id})' for r in same) for same in clashes[:20])
        raise RuntimeError(
            f'Products whose names differ only in case or spaces: {listed}. Each pair reads as one product but '
            'splits its stock and history in two. Rename one of each pair (or retire it, renamed) before '
            "upgrading, e.g. UPDATE products SET name = 'Botox Cosmetic 100 U (old entry)' WHERE id = <id>; "
            'nothing was changed.'
        )
    too_long = [r.id for r in rows if len(_key(r.name)) > KEY_LENGTH]
    if too_long:
        raise RuntimeError(f'Product names too long to compare: ids {too_long}: rename them first; nothing was changed.')

    with op.batch_alter_table('products', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'name_key', sa.String(length=KEY_LENGTH), server_default='', nullable=False,
            comment="product_name_key(name): unique, so no two products' names differ only in case or spaces"))
    if rows:
        bind.execute(PRODUCTS.update().where(PRODUCTS.c.id == sa.bindparam('product_id'))
                     .values(name_key=sa.bindparam('key')),
                     [{'product_id': r.id, 'key': _key(r.name)} for r in rows])
    with op.batch_alter_table('products', recreate='never') as batch_op:
        batch_op.create_index(batch_op.f('ix_products_name_key'), ['name_key'], unique=True)
    if bind.dialect.name == 'postgresql':
        op.alter_column('products', 'name_key', server_default=None)


def downgrade():
    with op.batch_alter_table('products', recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_name_key'))
        batch_op.drop_column('name_key')
