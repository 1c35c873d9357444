"""audit chain: hash-chained movements and audit events, append-only triggers, login failures

Revision ID: 0003_audit_chain
Revises: 0002_kits
Create Date: 2026-11-25

Written by hand and checked against autogenerate (tests/integration/test_schema.py). A sibling of
0003_recall, 0003_counts and 0003_transfers: everything upgrades to "heads".

1. ``prev_hash`` and ``row_hash`` on movements and audit_events. Existing rows are back-filled in id
   order per chain (per container for movements, one chain for audit events) with the same encoding the
   app uses (inventory/services/audit_chain.py, encoding v1: that function must never change meaning;
   a new encoding gets a new version string). SQLite cannot add a NOT NULL column without a default nor
   drop a default without rebuilding the table (which its foreign keys forbid here), so there the
   columns keep a '' default and a trigger refuses any row whose hashes are not 64 characters.
2. Triggers that refuse UPDATE and DELETE on both tables (PostgreSQL: also TRUNCATE). SQLite drops a
   table's triggers with the table: a later migration that rebuilds either table must create them again
   (``vialog verify`` reports a missing one).
3. ``login_failures`` for sign-in throttling (inventory/services/throttle.py).
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0003_audit_chain'
down_revision = '0002_kits'
branch_labels = None
depends_on = None

GUARDED = ('movements', 'audit_events')
_BATCH = 1000

_MOVEMENTS = sa.table(
    'movements',
    sa.column('id', sa.Integer()), sa.column('clinic_id', sa.Integer()), sa.column('location_id', sa.Integer()),
    sa.column('container_id', sa.Integer()), sa.column('lot_id', sa.Integer()), sa.column('product_id', sa.Integer()),
    sa.column('kind', sa.String()), sa.column('quantity', vt.Quantity()), sa.column('balance_after', vt.Quantity()),
    sa.column('actor_id', sa.Integer()), sa.column('at', vt.UTCDateTime()), sa.column('reason', sa.String()),
    sa.column('note', sa.Text()), sa.column('treatment_id', sa.Integer()), sa.column('reverses_id', sa.Integer()),
    sa.column('prev_hash', sa.String()), sa.column('row_hash', sa.String()),
)
_AUDIT_EVENTS = sa.table(
    'audit_events',
    sa.column('id', sa.Integer()), sa.column('at', vt.UTCDateTime()), sa.column('actor_id', sa.Integer()),
    sa.column('clinic_id', sa.Integer()), sa.column('action', sa.String()), sa.column('object_type', sa.String()),
    sa.column('object_id', sa.String()), sa.column('details', sa.JSON()),
    sa.column('prev_hash', sa.String()), sa.column('row_hash', sa.String()),
)


def upgrade():
    dialect = op.get_bind().dialect.name
    comments = {
        'movements': ("row_hash of the same container's previous movement; 64 zeros for its first",
                      "SHA-256 of this movement's canonical fields and prev_hash"),
        'audit_events': ('row_hash of the previous event; 64 zeros for the first',
                         "SHA-256 of this event's canonical fields and prev_hash"),
    }
    for table, (prev_comment, row_comment) in comments.items():
        op.add_column(table, sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default='',
                                       comment=prev_comment))
        op.add_column(table, sa.Column('row_hash', sa.String(length=64), nullable=False, server_default='',
                                       comment=row_comment))
    _backfill()
    if dialect == 'postgresql':
        for table in GUARDED:
            op.alter_column(table, 'prev_hash', server_default=None)
            op.alter_column(table, 'row_hash', server_default=None)
        _create_postgresql_guards()
    elif dialect == 'sqlite':
        _create_sqlite_guards()

    op.create_table('login_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username_key', sa.String(length=80), nullable=False, comment='the name as typed, trimmed and lower-cased; unknown names count too'),
    sa.Column('address', sa.String(length=64), nullable=False, comment='client address (behind a proxy: VIALOG_PROXY_HOPS)'),
    sa.Column('at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_username_key_at', ['username_key', 'at'], unique=False)


def _backfill():
    from inventory.services.audit_chain import GENESIS, audit_hash, movement_hash

    bind = op.get_bind()
    updates = []
    current, prev = None, GENESIS
    for row in bind.execute(sa.select(_MOVEMENTS).order_by(_MOVEMENTS.c.container_id, _MOVEMENTS.c.id)):
        if row.container_id != current:
            current, prev = row.container_id, GENESIS
        row_hash = movement_hash(prev, row)
        updates.append({'b_id': row.id, 'b_prev': prev, 'b_row': row_hash})
        prev = row_hash
    _apply(bind, _MOVEMENTS, updates)

    updates, prev = [], GENESIS
    for row in bind.execute(sa.select(_AUDIT_EVENTS).order_by(_AUDIT_EVENTS.c.id)):
        row_hash = audit_hash(prev, row)
        updates.append({'b_id': row.id, 'b_prev': prev, 'b_row': row_hash})
        prev = row_hash
    _apply(bind, _AUDIT_EVENTS, updates)


def _apply(bind, table, updates):
    stmt = (
        sa.update(table).where(table.c.id == sa.bindparam('b_id'))
        .values(prev_hash=sa.bindparam('b_prev'), row_hash=sa.bindparam('b_row'))
    )
    for start in range(0, len(updates), _BATCH):
        bind.execute(stmt, updates[start:start + _BATCH])


def _create_postgresql_guards():
    op.execute("""
        CREATE FUNCTION vialog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'vialog: % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Correct stock with a reversing movement; audit events are never changed.';
        END
        $$
    """)
    for table in GUARDED:
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION vialog_refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION vialog_refuse_change()")


def _create_sqlite_guards():
    for table in GUARDED:
        op.execute(f"""
            CREATE TRIGGER {table}_hash_required BEFORE INSERT ON {table}
            WHEN length(NEW.prev_hash) <> 64 OR length(NEW.row_hash) <> 64
            BEGIN SELECT RAISE(ABORT, 'vialog: {table} rows need prev_hash and row_hash'); END
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, 'vialog: {table} is append-only: UPDATE refused'); END
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'vialog: {table} is append-only: DELETE refused'); END
        """)


def downgrade():
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_username_key_at')
        batch_op.drop_index('ix_login_failures_address_at')
    op.drop_table('login_failures')

    for table in GUARDED:
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
        elif dialect == 'sqlite':
            for what in ('hash_required', 'no_update', 'no_delete'):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{what}")
        if dialect == 'sqlite':
            # Native DROP COLUMN (SQLite 3.35+): a batch rebuild would trip the foreign keys that point here.
            op.execute(f"ALTER TABLE {table} DROP COLUMN row_hash")
            op.execute(f"ALTER TABLE {table} DROP COLUMN prev_hash")
        else:
            op.drop_column(table, 'row_hash')
            op.drop_column(table, 'prev_hash')
    if dialect == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS vialog_refuse_change()")
