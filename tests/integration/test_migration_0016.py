"""0016_username_key on a database of its own: down, two usernames that differ only in case stop the way up
(nothing changed), and once one is renamed, up again to exactly the models, every user keyed, where the unique
key refuses a second name in another case."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from tests import factories

LOOK_ALIKE = sa.text(
    "INSERT INTO users (username, display_name, password_hash, role, is_chain_level, is_active) "
    "VALUES ('MANAGER', '', 'x', 'nurse', false, true)"
)


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("users")}


def test_0016_stops_on_usernames_that_differ_only_in_case_then_keys_every_user(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        factories.build_world(db.session)
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0015_pack_serials")
        assert "username_key" not in _columns()
        with db.engine.begin() as connection:  # what the old code let an admin make
            connection.execute(LOOK_ALIKE)
        with pytest.raises(SystemExit):
            upgrade(directory=directory)
        assert "username_key" not in _columns()

        with db.engine.begin() as connection:  # the admin renamed the look-alike
            connection.execute(sa.text("UPDATE users SET username = 'MANAGER-NURSE' WHERE username = 'MANAGER'"))
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            keys = dict(connection.execute(sa.text("SELECT username, username_key FROM users")).all())
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert keys["MANAGER-NURSE"] == "manager-nurse" and keys["nyc-nurse"] == "nyc-nurse"
        assert all(key == name.lower() for name, key in keys.items())
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO users (username, username_key, display_name, password_hash, role, is_chain_level, "
                "is_active) VALUES ('Manager', 'manager', '', 'x', 'nurse', false, true)"))

        downgrade(directory=directory, revision="0015_pack_serials")
        assert "username_key" not in _columns()
        upgrade(directory=directory)
        assert "username_key" in _columns()
