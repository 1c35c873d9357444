"""transfer lost: a whole box lost on the road is declared lost by either end and written off at the source

Revision ID: 0024_transfer_lost
Revises: 0023_patient_ref_key
Create Date: 2026-12-09

A box that never arrived could not be closed: receiving refuses a box of which nothing arrived, and a call-back
writes TRANSFER_IN movements that put stock back on the sender's shelf that never came back, so such transfers
stayed 'in_transit' (or 'refused', lost on the way back) for ever. Either end now declares it lost
(inventory/transfers/service.py ``declare_lost``): every container is written off at the source as one missing
from a received box is (a reversal of its TRANSFER_OUT and a waste, reason missing_in_transit, with its
transfer_missing_items row), and the transfer ends 'lost'. transfers gains lost_by_id, lost_at and lost_reason;
the status CHECK (transfer_status is a VARCHAR(24) with a CHECK, not a native enum: base.str_enum) takes the new
value; lost_has_declarer ties the status to its facts, as received_has_receiver does; refused_has_refuser lets a
lost transfer keep who refused it and why (a refused box lost on its way back). transfer_missing_items.reason
now also holds the lost reason: its comment says so (PostgreSQL only; SQLite keeps no comments).

PostgreSQL alters transfers in place. SQLite must rebuild a table to change its CHECK constraints, and
transfer_items point at transfers, so the rows step aside while the empty table is rebuilt, as 0018 did.
Transfers are few: this is quick on any clinic's database.

Downgrade refuses while a transfer is recorded lost: before 0024 nothing can say so, and no older status reads
right (received would say it arrived; in transit would count it on the road again). Its containers' write-off
stays in the ledger and transfer_missing_items either way, and the declaration in the audit trail
('transfer.lost').
"""
import contextlib
from collections.abc import Iterator

from alembic import op
from alembic.operations import BatchOperations
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0024_transfer_lost'
down_revision = '0023_patient_ref_key'
branch_labels = None
depends_on = None

OLD_STATUSES = ('in_transit', 'received', 'cancelled', 'refused', 'returned')
NEW_STATUSES = (*OLD_STATUSES, 'lost')
OLD_STATUS_COMMENT = 'in_transit, received, cancelled, refused (on its way back) or returned'
NEW_STATUS_COMMENT = 'in_transit, received, cancelled, refused (on its way back), returned or lost (written off)'
REFUSAL_FACTS = ("(refused_at IS NOT NULL AND refused_by_id IS NOT NULL "
                 "AND refusal_reason IS NOT NULL AND refusal_category IS NOT NULL)")
OLD_REFUSED_HAS_REFUSER = f"(status IN ('refused', 'returned')) = {REFUSAL_FACTS}"
NEW_REFUSED_HAS_REFUSER = (f"(status IN ('refused', 'returned') OR (status = 'lost' AND refused_at IS NOT NULL)) = "
                           f"{REFUSAL_FACTS}")
LOST_HAS_DECLARER = "(status = 'lost') = (lost_at IS NOT NULL AND lost_by_id IS NOT NULL AND lost_reason IS NOT NULL)"
OLD_MISSING_REASON_COMMENT = "the destination's words on what did not arrive"
NEW_MISSING_REASON_COMMENT = "the declarer's words on what did not arrive (the receiver's, or the lost reason of a box)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with _transfers_batch() as batch_op:
        batch_op.add_column(sa.Column('lost_by_id', sa.Integer(), nullable=True,
                                      comment='who declared the whole box lost in transit (at either end)'))
        batch_op.add_column(sa.Column('lost_at', vt.UTCDateTime(timezone=True), nullable=True,
                                      comment='when the box was declared lost and written off'))
        batch_op.add_column(sa.Column('lost_reason', sa.Text(), nullable=True,
                                      comment="the declarer's words: what is known of the loss"))
        batch_op.create_foreign_key(batch_op.f('fk_transfers_lost_by_id_users'), 'users', ['lost_by_id'], ['id'])
        batch_op.alter_column('status', existing_type=sa.String(length=24), existing_nullable=False,
                              comment=NEW_STATUS_COMMENT, existing_comment=OLD_STATUS_COMMENT)
        batch_op.drop_constraint(batch_op.f('ck_transfers_transfer_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_transfer_status'), _in('status', NEW_STATUSES))
        batch_op.drop_constraint(batch_op.f('ck_transfers_refused_has_refuser'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_refused_has_refuser'), NEW_REFUSED_HAS_REFUSER)
        batch_op.create_check_constraint(batch_op.f('ck_transfers_lost_has_declarer'), LOST_HAS_DECLARER)
    _missing_reason_comment(NEW_MISSING_REASON_COMMENT, OLD_MISSING_REASON_COMMENT)


def downgrade():
    bind = op.get_bind()
    lost = bind.exec_driver_sql("SELECT count(*) FROM transfers WHERE status = 'lost'").scalar()
    if lost:
        raise RuntimeError(
            f'{lost} transfer(s) were declared lost in transit: before 0024 nothing can say so, and they would '
            'read as on the road again. Stay on 0024 or later.'
        )
    _missing_reason_comment(OLD_MISSING_REASON_COMMENT, NEW_MISSING_REASON_COMMENT)
    with _transfers_batch() as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_transfers_lost_has_declarer'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_transfers_refused_has_refuser'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_refused_has_refuser'), OLD_REFUSED_HAS_REFUSER)
        batch_op.drop_constraint(batch_op.f('ck_transfers_transfer_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_transfer_status'), _in('status', OLD_STATUSES))
        batch_op.alter_column('status', existing_type=sa.String(length=24), existing_nullable=False,
                              comment=OLD_STATUS_COMMENT, existing_comment=NEW_STATUS_COMMENT)
        batch_op.drop_constraint(batch_op.f('fk_transfers_lost_by_id_users'), type_='foreignkey')
        batch_op.drop_column('lost_reason')
        batch_op.drop_column('lost_at')
        batch_op.drop_column('lost_by_id')


def _missing_reason_comment(comment: str, existing: str) -> None:
    """SQLite keeps no column comments (and would rebuild the table for nothing): PostgreSQL only."""
    if op.get_bind().dialect.name == 'sqlite':
        return
    op.alter_column('transfer_missing_items', 'reason', existing_type=sa.Text(), existing_nullable=False,
                    comment=comment, existing_comment=existing)


@contextlib.contextmanager
def _transfers_batch() -> Iterator[BatchOperations]:
    """batch_alter_table('transfers'); on SQLite its rows step aside while the table is rebuilt (as in 0018).

    SQLite changes a table's CHECK constraints by rebuilding it, and dropping the old transfers table breaks
    the foreign keys of transfer_items, which cannot be switched off inside the migration's transaction. So the
    rows are copied aside and deleted with foreign keys checked only at commit (defer_foreign_keys, reset by the
    commit), the empty table is rebuilt, and the rows go back into it, which makes every reference whole again;
    the commit checks that it is. The columns both tables have go back.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        with op.batch_alter_table('transfers', schema=None) as batch_op:
            yield batch_op
        return
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute('CREATE TEMP TABLE transfers_aside AS SELECT * FROM transfers')
    op.execute('DELETE FROM transfers')
    with op.batch_alter_table('transfers', schema=None, recreate='always') as batch_op:
        yield batch_op
    aside = {row[1] for row in bind.exec_driver_sql('PRAGMA temp.table_info(transfers_aside)')}
    kept = ', '.join(c['name'] for c in sa.inspect(bind).get_columns('transfers') if c['name'] in aside)
    op.execute(f'INSERT INTO transfers ({kept}) SELECT {kept} FROM transfers_aside')
    op.execute('DROP TABLE transfers_aside')
