"""recall integrity and counterfeit defence: suppliers, the watch list, patient contact details, Class III depth

Revision ID: 0009_recall_integrity
Revises: 0008_administration
Create Date: 2026-12-03

- suppliers (name, licence, is_authorised) and receipts.supplier_id. Receipts recorded before this
  revision keep supplier_id NULL, which every view shows as "not recorded": nobody knows who delivered
  them, and inventing a supplier would be a false record. New receipts name one (the receiving page
  requires it; the API takes it and refuses an unauthorised one).
- watched_lots: suspect lot numbers per product (counterfeit alerts), matched on the same normalised key
  as lots.number_key.
- patients gain phone, email and address (the recall notification list and letters).
- recall_patients.status may be 'not_required' (a Class III case starts its patients there): the CHECK
  constraint is replaced; SQLite rebuilds the table (nothing points at it), PostgreSQL alters it in place.
- ix_containers_product_serial: the chain-wide look-up of a pack serial at receiving. Not unique: rows
  from before may repeat a serial across lots, and the receipt refuses a repeat itself.

Downgrade drops what upgrade added; it refuses while a patient line is 'not_required' (the older CHECK
cannot hold it).
"""
from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0009_recall_integrity'
down_revision = '0008_administration'
branch_labels = None
depends_on = None

STATUS_CHECK = 'ck_recall_patients_notification_status'
OLD_STATUSES = ('pending', 'notified', 'unreachable')
NEW_STATUSES = (*OLD_STATUSES, 'not_required')


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _replace_status_check(statuses: tuple[str, ...]) -> None:
    with op.batch_alter_table('recall_patients', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(STATUS_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(STATUS_CHECK), _status_check(statuses))


def upgrade():
    op.create_table('suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False, comment='as on the delivery note'),
    sa.Column('licence', sa.String(length=120), nullable=True, comment='wholesale licence or registration number'),
    sa.Column('is_authorised', sa.Boolean(), nullable=False, comment='false: receipts from it are refused'),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('name', name=op.f('uq_suppliers_name'))
    )
    op.create_table('watched_lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False, comment='unique with number_key'),
    sa.Column('lot_number', sa.String(length=20), nullable=False, comment='as the alert prints it'),
    sa.Column('number_key', sa.String(length=20), nullable=False, comment='normalised like lots.number_key, for matching'),
    sa.Column('source', sa.String(length=200), nullable=False, comment='the alert: who issued it, its reference'),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('added_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_watched_lots_added_by_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_watched_lots_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watched_lots')),
    sa.UniqueConstraint('product_id', 'number_key', name=op.f('uq_watched_lots_product_id'))
    )

    if _sqlite():
        # SQLite adds a column with its REFERENCES clause in place (NULL by default), so receipts, which
        # containers point at, is not rebuilt.
        op.execute('ALTER TABLE receipts ADD COLUMN supplier_id INTEGER '
                   'CONSTRAINT fk_receipts_supplier_id_suppliers REFERENCES suppliers (id)')
    else:
        op.add_column('receipts', sa.Column(
            'supplier_id', sa.Integer(), nullable=True,
            comment='who delivered it; NULL only for receipts recorded before suppliers were (migration 0009)',
        ))
        op.create_foreign_key(op.f('fk_receipts_supplier_id_suppliers'), 'receipts', 'suppliers',
                              ['supplier_id'], ['id'])
    op.create_index(op.f('ix_receipts_supplier_id'), 'receipts', ['supplier_id'], unique=False)

    op.add_column('patients', sa.Column('phone', sa.String(length=40), nullable=True, comment='for recall notifications'))
    op.add_column('patients', sa.Column('email', sa.String(length=254), nullable=True, comment='for recall notifications'))
    op.add_column('patients', sa.Column('address', sa.Text(), nullable=True, comment='postal address, for a recall letter'))

    op.create_index('ix_containers_product_serial', 'containers', ['product_id', 'serial'], unique=False)

    _replace_status_check(NEW_STATUSES)


def downgrade():
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT count(*) FROM recall_patients WHERE status = 'not_required'").scalar():
        raise RuntimeError("Recall patient lines are 'not_required'; before 0009 no status can hold them: "
                           "set them to pending first.")
    _replace_status_check(OLD_STATUSES)
    op.drop_index('ix_containers_product_serial', table_name='containers')
    with op.batch_alter_table('patients', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('address')
        batch_op.drop_column('email')
        batch_op.drop_column('phone')
    op.drop_index(op.f('ix_receipts_supplier_id'), table_name='receipts')
    if _sqlite():
        _drop_supplier_column_sqlite()
    else:
        op.drop_constraint(op.f('fk_receipts_supplier_id_suppliers'), 'receipts', type_='foreignkey')
        op.drop_column('receipts', 'supplier_id')
    op.drop_table('watched_lots')
    op.drop_table('suppliers')


def _drop_supplier_column_sqlite() -> None:
    """SQLite drops a column that a foreign key names only by rebuilding receipts, which containers point
    at: as 0007 did for products, the rows step aside (foreign keys checked at commit), the empty table is
    rebuilt without the column, and the rows come back."""
    bind = op.get_bind()
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute('CREATE TEMP TABLE receipts_aside AS SELECT * FROM receipts')
    op.execute('DELETE FROM receipts')
    with op.batch_alter_table('receipts', schema=None, recreate='always') as batch_op:
        batch_op.drop_column('supplier_id')
    kept = ', '.join(c['name'] for c in sa.inspect(bind).get_columns('receipts'))
    op.execute(f'INSERT INTO receipts ({kept}) SELECT {kept} FROM receipts_aside')
    op.execute('DROP TABLE receipts_aside')


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'
