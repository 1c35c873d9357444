"""username key: usernames are unique whatever their case, in the database too

Revision ID: 0016_username_key
Revises: 0015_pack_serials
Create Date: 2026-12-05

Usernames were unique only as typed: an admin could make ``MGR-LON`` (a nurse) beside ``mgr-lon`` (a
manager), two accounts that read as one person in every list and audit trail, each signing in on its own.
users.username_key holds the name in its caseless form (inventory/models/user.py ``username_key``: NFKC,
case folding, NFKC); a unique index on it refuses a second name that differs only in case, also when two
admins race, and sign-in matches it, so ``MGR-LON`` signs in as ``mgr-lon``.

A database that already holds such a pair is not changed: the upgrade stops before any change and names
the accounts, for an admin to rename or remove one of each pair (by id; its history, tokens and sessions go
by id too) and upgrade again. Merging them here would guess which person is which. The column is added
NOT NULL with an empty default so SQLite adds it in place (ALTER TABLE ADD COLUMN, no table rebuild), then
filled; PostgreSQL drops the default afterwards, SQLite keeps it (dropping it would rebuild the table the
whole schema points at), which only a hand-written INSERT could ever use. Downgrade drops the column.
"""
import unicodedata
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_username_key'
down_revision = '0015_pack_serials'
branch_labels = None
depends_on = None

KEY_LENGTH = 255
USERS = sa.table('users', sa.column('id', sa.Integer), sa.column('username_key', sa.String))


def _key(username):
    """Frozen copy of inventory.models.user.username_key as of this revision."""
    return unicodedata.normalize('NFKC', unicodedata.normalize('NFKC', username).casefold())


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, username, role, is_active FROM users ORDER BY id')).all()
    by_key = defaultdict(list)
    for row in rows:
        by_key[_key(row.username)].append(row)
    clashes = [same for same in by_key.values() if len(same) > 1]
    if clashes:
        listed = '; '.join(' and '.join(
            f"{r.username!r} (id {r.id}, {r.role}{'' if r.is_active else ', deactivated'})" for r in same)
            for same in clashes[:20])
        raise RuntimeError(
            f'Usernames that differ only in case: {listed}. Each pair reads as one person but signs in as two. '
            'Rename or remove one of each pair before upgrading, e.g. '
            "UPDATE users SET username = 'mgr-lon-nurse' WHERE id = <id>; nothing was changed."
        )
    too_long = [r for r in rows if len(_key(r.username)) > KEY_LENGTH]
    if too_long:
        raise RuntimeError(f'Usernames too long to compare: ids {[r.id for r in too_long]}: rename them first.')

    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.add_column(sa.Column(
            'username_key', sa.String(length=KEY_LENGTH), server_default='', nullable=False,
            comment='username_key(username): unique, so no two usernames differ only in case; sign-in matches it'))
    if rows:
        bind.execute(USERS.update().where(USERS.c.id == sa.bindparam('user_id'))
                     .values(username_key=sa.bindparam('key')),
                     [{'user_id': r.id, 'key': _key(r.username)} for r in rows])
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.create_index(batch_op.f('ix_users_username_key'), ['username_key'], unique=True)
    if bind.dialect.name == 'postgresql':
        op.alter_column('users', 'username_key', server_default=None)


def downgrade():
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_key'))
        batch_op.drop_column('username_key')
