"""pack serials: the register of pack serials received, one row per pack whatever its number of containers

Revision ID: 0015_pack_serials
Revises: 0014_unique_serial
Create Date: 2026-12-04

A pack serial (GS1 AI 21) identifies one pack. Receiving recorded it on the container of a pack of one
only (containers.serial, unique per product since 0014): a receipt of several containers kept it nowhere
but in its scanned code, and was never refused as a repeat (a copied box received again and again). The
register holds the serial of every pack received, once per product in the whole chain, with the receipt
that took it in (that receipt's containers are the pack); its unique constraint refuses a second receipt,
also when two race. containers.serial is unchanged: a pack of one still carries its serial there.

Back-filled from what the database knows: the serial of each container that has one, and the serial read
again from the scanned code of each receipt of several containers. Where two receipts hold one serial (a
repeat the old code let in), the earlier receipt is the pack and the later ones are left out and named in
the migration's log, for the safety lead: their scanned codes keep the serial.

Downgrade drops the register; the serials of packs of several containers are then again only in
receipts.scanned_code, from which an upgrade reads them again.
"""
import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_pack_serials'
down_revision = '0014_unique_serial'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')

PACK_SERIALS = sa.table('pack_serials', sa.column('product_id'), sa.column('serial'), sa.column('receipt_id'))


def upgrade():
    op.create_table('pack_serials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False, comment='unique with serial: chain-wide'),
    sa.Column('serial', sa.String(length=20), nullable=False, comment='GS1 AI 21 as printed on the pack'),
    sa.Column('receipt_id', sa.Integer(), nullable=False, comment='the receipt that took the pack in: its containers'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_pack_serials_product_id_products')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_pack_serials_receipt_id_receipts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_serials')),
    sa.UniqueConstraint('product_id', 'serial', name=op.f('uq_pack_serials_product_id')),
    sa.UniqueConstraint('receipt_id', name=op.f('uq_pack_serials_receipt_id'))
    )
    _backfill()


def _backfill():
    # Vialog's own reading of a scanned code, as receiving read it when the box came in.
    from inventory.errors import DomainError
    from inventory.services.barcodes import parse_scan

    bind = op.get_bind()
    found = [tuple(row) for row in bind.execute(sa.text(
        "SELECT receipt_id, product_id, serial FROM containers WHERE serial IS NOT NULL AND receipt_id IS NOT NULL"
    ))]
    for receipt_id, product_id, code in bind.execute(sa.text(
        "SELECT r.id, l.product_id, r.scanned_code FROM receipts r JOIN lots l ON l.id = r.lot_id "
        "WHERE r.container_count > 1 AND r.scanned_code IS NOT NULL"
    )):
        try:
            parsed = parse_scan(code)
        except DomainError:
            continue  # not a code receiving could have taken a serial from
        if parsed.kind == 'gs1' and parsed.serial:
            found.append((receipt_id, product_id, parsed.serial))

    rows, held, repeats = [], {}, []
    for receipt_id, product_id, serial in sorted(found):
        first = held.setdefault((product_id, serial), receipt_id)
        if first == receipt_id:
            rows.append({'receipt_id': receipt_id, 'product_id': product_id, 'serial': serial})
        else:
            repeats.append(f"receipt {receipt_id} repeats serial {serial} of product {product_id} (receipt {first})")
    if rows:
        bind.execute(sa.insert(PACK_SERIALS), rows)
    if repeats:
        log.warning("Pack serials received more than once before 0015 (each may be a copied box; tell the safety "
                    "lead): %s", "; ".join(repeats))


def downgrade():
    op.drop_table('pack_serials')
