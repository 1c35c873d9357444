"""unique serial: a pack serial is held by one container per product, in the database too

Revision ID: 0014_unique_serial
Revises: 0013_chain_head
Create Date: 2026-12-03

Receiving refuses a pack serial already received for the product (counterfeit defence, issue 19), but
that look-up alone lets two receipts of one serial at the same instant both pass it. The plain index it
used becomes a unique one over the containers that carry a serial, so the second receipt fails and is
answered duplicate_serial. A database that somehow holds a serial twice already is not changed: the
upgrade stops and names the containers, for the safety lead to look at before anything is merged away.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_unique_serial'
down_revision = '0013_chain_head'
branch_labels = None
depends_on = None

HAS_SERIAL = "serial IS NOT NULL"


def upgrade():
    twice = op.get_bind().execute(sa.text(
        "SELECT product_id, serial, COUNT(*) FROM containers WHERE serial IS NOT NULL "
        "GROUP BY product_id, serial HAVING COUNT(*) > 1 ORDER BY product_id, serial LIMIT 20"
    )).all()
    if twice:
        listed = "; ".join(f"product {p} serial {s} ({n} containers)" for p, s, n in twice)
        raise RuntimeError(
            f"Pack serials received more than once: {listed}. Each may be a copied box: have the safety lead "
            "look at them (set the extra containers' serial aside) before upgrading."
        )
    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_containers_product_serial')
        batch_op.create_index('uq_containers_product_serial', ['product_id', 'serial'], unique=True,
                              postgresql_where=sa.text(HAS_SERIAL), sqlite_where=sa.text(HAS_SERIAL))


def downgrade():
    with op.batch_alter_table('containers', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('uq_containers_product_serial')
        batch_op.create_index('ix_containers_product_serial', ['product_id', 'serial'])
