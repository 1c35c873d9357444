"""lot keys without spaces: a lot number typed with a space matches the lot it names

Revision ID: 0019_lot_keys_without_spaces
Revises: 0018_transfer_refusal
Create Date: 2026-12-04

``lots.number_key`` and ``watched_lots.number_key`` held the number trimmed and in upper case only, so a
watch-list entry typed as an alert prints it, ``XE 77812``, never matched lot ``XE77812``: the lot in stock was
not quarantined, and scanning or receiving it was not refused. A GS1 lot (AI 10) never holds a space, so the
key now drops every space (inventory/services/barcodes.py ``normalise_lot_number``). This revision rewrites the
keys already stored. A key whose rewritten form is already taken for the same product (lot ``AB 1`` beside lot
``AB1``, or a lot watched twice) is left as it was: the other row already matches that number.

A watched lot that only now matches a lot in stock is refused at every scan and receipt from this revision on;
its stock is not quarantined here (a quarantine is the safety lead's act, with its audit trail): the watch
list's entry can be taken off and added again to quarantine it at once. Downgrade leaves the keys as they are:
the older code trims and upper-cases, which these keys already are.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_lot_keys_without_spaces'
down_revision = '0018_transfer_refusal'
branch_labels = None
depends_on = None


def _key(text):
    """Frozen copy of inventory.services.barcodes.normalise_lot_number as of this revision."""
    return ''.join(text.split()).upper()


def upgrade():
    bind = op.get_bind()
    for table_name in ('lots', 'watched_lots'):
        table = sa.table(table_name, sa.column('id', sa.Integer), sa.column('product_id', sa.Integer),
                         sa.column('number_key', sa.String))
        rows = bind.execute(sa.select(table.c.id, table.c.product_id, table.c.number_key)).all()
        taken = {(r.product_id, r.number_key) for r in rows}
        for row in rows:
            key = _key(row.number_key)
            if key == row.number_key or (row.product_id, key) in taken:
                continue
            bind.execute(table.update().where(table.c.id == row.id).values(number_key=key))
            taken.add((row.product_id, key))


def downgrade():
    pass
