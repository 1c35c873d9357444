"""transfer refusal: the receiving clinic may refuse a consignment, and the sender records its return

Revision ID: 0018_transfer_refusal
Revises: 0017_receipts_need_supplier
Create Date: 2026-12-07

A consignment that arrives damaged, warm, incomplete or not what was ordered is refused by the destination
(inventory/transfers/service.py ``refuse``): the transfer becomes 'refused' (who, when, a category and the
reason) while its containers stay in transit, and the source's return of the goods ends it 'returned' (who,
when). transfers gains refused_by_id, refused_at, refusal_category, refusal_reason, returned_by_id and
returned_at; the status CHECK (transfer_status is a VARCHAR(24) with a CHECK, not a native enum: base.str_enum)
takes the two new values; refusal_category has its own CHECK, as str_enum declares it; two CHECKs tie each
status to its facts, as received_has_receiver and cancelled_has_canceller do.

PostgreSQL alters transfers in place. SQLite must rebuild a table to change its CHECK constraints, and
transfer_items point at transfers, so the rows step aside while the empty table is rebuilt, as 0007 did for
products (foreign keys checked at commit). Transfers are few: this is quick on any clinic's database.

Downgrade refuses while a refused transfer is on its way back (before 0018 nothing can say so: record its
return first). A returned transfer becomes 'cancelled' (its stock came back to the source, which is what a
call-back records), at the time and by the person who recorded the return; who refused it and why stay in the
audit trail ('transfer.refused').
"""
import contextlib
from collections.abc import Iterator

from alembic import op
from alembic.operations import BatchOperations
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0018_transfer_refusal'
down_revision = '0017_receipts_need_supplier'
branch_labels = None
depends_on = None

OLD_STATUSES = ('in_transit', 'received', 'cancelled')
NEW_STATUSES = (*OLD_STATUSES, 'refused', 'returned')
CATEGORIES = ('damaged', 'temperature', 'incomplete', 'wrong_items', 'other')
OLD_STATUS_COMMENT = 'in_transit, received or cancelled'
NEW_STATUS_COMMENT = 'in_transit, received, cancelled, refused (on its way back) or returned'
REFUSED_HAS_REFUSER = ("(status IN ('refused', 'returned')) = (refused_at IS NOT NULL AND refused_by_id IS NOT NULL "
                       "AND refusal_reason IS NOT NULL AND refusal_category IS NOT NULL)")
RETURNED_HAS_RETURNER = "(status = 'returned') = (returned_at IS NOT NULL AND returned_by_id IS NOT NULL)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with _transfers_batch() as batch_op:
        batch_op.add_column(sa.Column('refused_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('refused_at', vt.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refusal_category', sa.String(length=24), nullable=True,
                                      comment='damaged, temperature, incomplete, wrong_items or other'))
        batch_op.add_column(sa.Column('refusal_reason', sa.Text(), nullable=True,
                                      comment="the destination's words: what was wrong"))
        batch_op.add_column(sa.Column('returned_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('returned_at', vt.UTCDateTime(timezone=True), nullable=True,
                                      comment='when the source recorded the refused stock back'))
        batch_op.create_foreign_key(batch_op.f('fk_transfers_refused_by_id_users'), 'users', ['refused_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_transfers_returned_by_id_users'), 'users', ['returned_by_id'],
                                    ['id'])
        batch_op.alter_column('status', existing_type=sa.String(length=24), existing_nullable=False,
                              comment=NEW_STATUS_COMMENT, existing_comment=OLD_STATUS_COMMENT)
        batch_op.drop_constraint(batch_op.f('ck_transfers_transfer_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_transfer_status'), _in('status', NEW_STATUSES))
        batch_op.create_check_constraint(batch_op.f('ck_transfers_transfer_refusal_category'),
                                         _in('refusal_category', CATEGORIES))
        batch_op.create_check_constraint(batch_op.f('ck_transfers_refused_has_refuser'), REFUSED_HAS_REFUSER)
        batch_op.create_check_constraint(batch_op.f('ck_transfers_returned_has_returner'), RETURNED_HAS_RETURNER)


def downgrade():
    bind = op.get_bind()
    on_the_way_back = bind.exec_driver_sql("SELECT count(*) FROM transfers WHERE status = 'refused'").scalar()
    if on_the_way_back:
        raise RuntimeError(
            f'{on_the_way_back} refused transfer(s) are on their way back to the sending clinic: record their '
            'return first (before 0018 nothing can say a transfer was refused).'
        )
    # The columns about to go are cleared in the same statement, so every CHECK holds row by row (SET reads
    # the values from before the update).
    op.execute("UPDATE transfers SET status = 'cancelled', cancelled_at = returned_at, "
               "cancelled_by_id = returned_by_id, returned_at = NULL, returned_by_id = NULL, refused_at = NULL, "
               "refused_by_id = NULL, refusal_reason = NULL, refusal_category = NULL WHERE status = 'returned'")
    with _transfers_batch() as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_transfers_returned_has_returner'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_transfers_refused_has_refuser'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_transfers_transfer_refusal_category'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_transfers_transfer_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_transfers_transfer_status'), _in('status', OLD_STATUSES))
        batch_op.alter_column('status', existing_type=sa.String(length=24), existing_nullable=False,
                              comment=OLD_STATUS_COMMENT, existing_comment=NEW_STATUS_COMMENT)
        batch_op.drop_constraint(batch_op.f('fk_transfers_returned_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_transfers_refused_by_id_users'), type_='foreignkey')
        batch_op.drop_column('returned_at')
        batch_op.drop_column('returned_by_id')
        batch_op.drop_column('refusal_reason')
        batch_op.drop_column('refusal_category')
        batch_op.drop_column('refused_at')
        batch_op.drop_column('refused_by_id')


@contextlib.contextmanager
def _transfers_batch() -> Iterator[BatchOperations]:
    """batch_alter_table('transfers'); on SQLite its rows step aside while the table is rebuilt.

    SQLite changes a table's CHECK constraints by rebuilding it, and dropping the old transfers table breaks
    the foreign keys of transfer_items, which cannot be switched off inside the migration's transaction. So,
    as 0007 does for products, the rows are copied aside and deleted with foreign keys checked only at commit
    (defer_foreign_keys, reset by the commit), the empty table is rebuilt, and the rows go back into it, which
    makes every reference whole again; the commit checks that it is. The columns both tables have go back.
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
