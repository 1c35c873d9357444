"""0014_unique_serial on a database of its own: down, a serial held twice stops the way up (nothing changed),
and once it is set aside, up again to exactly the models, where the index refuses a second holder."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from tests import factories


def test_0014_stops_on_a_serial_held_twice_then_makes_it_unique(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        world = factories.build_world(session)
        world.receive("botox", lot="MIG0014", containers=2)
        session.commit()
        session.close()

        downgrade(directory=directory, revision="0013_chain_head")
        with db.engine.begin() as connection:  # a copied box received twice before the index existed
            connection.execute(sa.text("UPDATE containers SET serial = 'SER14'"))
        with pytest.raises(SystemExit):
            upgrade(directory=directory)
        indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("containers")}
        assert "ix_containers_product_serial" in indexes and "uq_containers_product_serial" not in indexes

        with db.engine.begin() as connection:  # the safety lead set the second one's serial aside
            connection.execute(sa.text(
                "UPDATE containers SET serial = NULL WHERE id = (SELECT max(id) FROM containers)"))
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE containers SET serial = 'SER14'"))
