"""transfers: sealed stock sent from one clinic of the chain to another; containers may be in transit

Revision ID: 0003_transfers
Revises: 0002_kits
Create Date: 2026-11-25

Written by autogenerate and reviewed; only the transfer tables and the containers'
new state are here (recall, counts and audit have their own siblings off 0002_kits).
Autogenerate does not see CHECK constraints: the container_state CHECK gains
'in_transit', and a new CHECK says an in-transit container holds nothing (its stock
left the source with a TRANSFER_OUT and is in no clinic's ledger until received).
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0003_transfers'
down_revision = '0002_kits'
branch_labels = None
depends_on = None

STATES = ('sealed', 'in_use', 'empty', 'discarded')
STATES_WITH_TRANSIT = STATES + ('in_transit',)


def _state_check(states):
    return 'state IN (%s)' % ', '.join(f"'{state}'" for state in states)


def _replace_container_checks(states, *, in_transit):
    """Swaps the container_state CHECK for one allowing ``states``; adds or drops the in-transit CHECK."""
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('containers', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('ck_containers_container_state'), type_='check')
            if not in_transit:
                batch_op.drop_constraint(op.f('ck_containers_in_transit_holds_nothing'), type_='check')
            batch_op.create_check_constraint(op.f('ck_containers_container_state'), _state_check(states))
            if in_transit:
                batch_op.create_check_constraint(
                    op.f('ck_containers_in_transit_holds_nothing'), "state <> 'in_transit' OR remaining = 0"
                )


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite cannot alter a CHECK: batch mode copies the table, drops the old one and renames the copy.

    With foreign keys enforced, dropping ``containers`` fails as soon as one movement,
    draw or count line points at it, and SQLite ignores ``PRAGMA foreign_keys`` inside a
    transaction. So, as SQLite's own procedure for such changes says: commit, switch
    enforcement off, rebuild in a transaction of its own, prove with foreign_key_check
    that every reference still holds, commit, switch enforcement back on and reopen the
    transaction the rest of the upgrade runs in. PostgreSQL alters constraints in place.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        yield
        return
    raw = bind.connection.driver_connection  # pysqlite in autocommit mode: transactions are explicit
    raw.execute('COMMIT')
    raw.execute('PRAGMA foreign_keys=OFF')
    raw.execute('BEGIN IMMEDIATE')
    try:
        yield
        broken = raw.execute('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rebuilding containers broke foreign keys: {broken[:5]}')
        raw.execute('COMMIT')
    except BaseException:
        raw.execute('ROLLBACK')
        raise
    finally:
        raw.execute('PRAGMA foreign_keys=ON')
        raw.execute('BEGIN IMMEDIATE')


def upgrade():
    _replace_container_checks(STATES_WITH_TRANSIT, in_transit=True)

    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_clinic_id', sa.Integer(), nullable=False, comment='the sending clinic'),
    sa.Column('to_clinic_id', sa.Integer(), nullable=False, comment='the receiving clinic'),
    sa.Column('to_location_id', sa.Integer(), nullable=False, comment='where the sender asked for it to go, in the receiving clinic'),
    sa.Column('received_location_id', sa.Integer(), nullable=True, comment='where it was put away on receipt (the receiver may choose another)'),
    sa.Column('status', sa.Enum('in_transit', 'received', 'cancelled', name='transfer_status', native_enum=False, create_constraint=True, length=24), nullable=False, comment='in_transit, received or cancelled'),
    sa.Column('sent_by_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', vt.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('received_at', vt.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', vt.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True, comment='from the sender: courier, reason, anything to know'),
    sa.Column('created_at', vt.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("(status = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by_id IS NOT NULL)", name=op.f('ck_transfers_cancelled_has_canceller')),
    sa.CheckConstraint("(status = 'received') = (received_at IS NOT NULL AND received_by_id IS NOT NULL AND received_location_id IS NOT NULL)", name=op.f('ck_transfers_received_has_receiver')),
    sa.CheckConstraint('from_clinic_id <> to_clinic_id', name=op.f('ck_transfers_between_two_clinics')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['users.id'], name=op.f('fk_transfers_cancelled_by_id_users')),
    sa.ForeignKeyConstraint(['from_clinic_id'], ['clinics.id'], name=op.f('fk_transfers_from_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['received_by_id'], ['users.id'], name=op.f('fk_transfers_received_by_id_users')),
    sa.ForeignKeyConstraint(['received_location_id'], ['locations.id'], name=op.f('fk_transfers_received_location_id_locations')),
    sa.ForeignKeyConstraint(['sent_by_id'], ['users.id'], name=op.f('fk_transfers_sent_by_id_users')),
    sa.ForeignKeyConstraint(['to_clinic_id'], ['clinics.id'], name=op.f('fk_transfers_to_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['to_location_id'], ['locations.id'], name=op.f('fk_transfers_to_location_id_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_from_clinic_status', ['from_clinic_id', 'status', 'sent_at'], unique=False)
        batch_op.create_index('ix_transfers_to_clinic_status', ['to_clinic_id', 'status', 'sent_at'], unique=False)

    op.create_table('transfer_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=False),
    sa.Column('container_id', sa.Integer(), nullable=False, comment='the same container at both ends: its label travels'),
    sa.Column('quantity', vt.Quantity(precision=14, scale=4), nullable=False, comment="what was sent, in the product's base unit: the whole sealed container"),
    sa.Column('out_movement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False, comment='the TRANSFER_OUT at the source location'),
    sa.Column('in_movement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True, comment='the TRANSFER_IN on receipt (at the destination) or on cancelling (back at the source)'),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_transfer_items_positive_quantity')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_transfer_items_container_id_containers')),
    sa.ForeignKeyConstraint(['in_movement_id'], ['movements.id'], name=op.f('fk_transfer_items_in_movement_id_movements')),
    sa.ForeignKeyConstraint(['out_movement_id'], ['movements.id'], name=op.f('fk_transfer_items_out_movement_id_movements')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_items_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_items')),
    sa.UniqueConstraint('in_movement_id', name=op.f('uq_transfer_items_in_movement_id')),
    sa.UniqueConstraint('out_movement_id', name=op.f('uq_transfer_items_out_movement_id')),
    sa.UniqueConstraint('transfer_id', 'container_id', name=op.f('uq_transfer_items_transfer_id'))
    )
    with op.batch_alter_table('transfer_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_items_container_id'), ['container_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_items_transfer_id'), ['transfer_id'], unique=False)


def downgrade():
    in_transit = op.get_bind().scalar(sa.text("SELECT count(*) FROM containers WHERE state = 'in_transit'"))
    if in_transit:
        raise RuntimeError(
            f'{in_transit} container(s) are in transit between clinics: receive or cancel every transfer '
            'before downgrading, or their stock would be lost.'
        )

    with op.batch_alter_table('transfer_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_items_transfer_id'))
        batch_op.drop_index(batch_op.f('ix_transfer_items_container_id'))

    op.drop_table('transfer_items')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_to_clinic_status')
        batch_op.drop_index('ix_transfers_from_clinic_status')

    op.drop_table('transfers')

    _replace_container_checks(STATES, in_transit=False)
