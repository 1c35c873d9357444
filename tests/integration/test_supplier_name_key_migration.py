"""0027_supplier_name_key on a database of its own: down, two suppliers whose names read alike, or that share a
licence, stop the way up naming them (nothing changed); once corrected, up again to exactly the models, every
supplier keyed, where the unique keys refuse a second entry of one supplier or licence."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from tests import factories

BEFORE = "0026_open_treatments_index"


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("suppliers")}


def _run(sql: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(sa.text(sql))


def test_0027_stops_on_suppliers_that_read_alike_then_keys_every_supplier(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        factories.build_world(db.session)
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision=BEFORE)
        assert not {"name_key", "licence_key"} & _columns()
        # What the old rules let in: a copy of a name, and a second supplier under another's licence.
        _run("INSERT INTO suppliers (name, licence, is_authorised, created_at) VALUES "
             "('allergan  aesthetics (DIRECT)', NULL, true, CURRENT_TIMESTAMP), "
             "('Harbour Pharma', 'wda(h)0001', true, CURRENT_TIMESTAMP), "
             "('Quay Pharma', NULL, false, CURRENT_TIMESTAMP), ('Pier Pharma', '--', false, CURRENT_TIMESTAMP)")
        config = committed_app.extensions["migrate"].migrate.get_config(directory)
        with pytest.raises(RuntimeError) as stopped:  # what flask db upgrade prints, and exits 1 on
            command.upgrade(config, "head")
        assert not {"name_key", "licence_key"} & _columns()
        said = str(stopped.value)
        assert "'Allergan Aesthetics (direct)' (id 1, licence 'WDA(H) 0001') and 'allergan  aesthetics (DIRECT)'" in said
        assert "'Harbour Pharma' (id 3, licence 'wda(h)0001')" in said and said.endswith("nothing was changed.")

        _run("UPDATE suppliers SET name = 'Allergan Aesthetics (old entry)' WHERE name = 'allergan  aesthetics (DIRECT)'")
        with pytest.raises(SystemExit):  # the licence still clashes
            upgrade(directory=directory)
        _run("UPDATE suppliers SET licence = 'WDA(H) 0002' WHERE name = 'Harbour Pharma'")
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            keys = {name: (name_key, licence_key) for name, name_key, licence_key in connection.execute(
                sa.text("SELECT name, name_key, licence_key FROM suppliers")).all()}
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert keys["Allergan Aesthetics (direct)"] == ("allerganaestheticsdirect", "wdah0001")
        assert keys["Harbour Pharma"] == ("harbourpharma", "wdah0002")
        assert keys["Quay Pharma"] == ("quaypharma", None) and keys["Pier Pharma"] == ("pierpharma", None)
        with pytest.raises(sa.exc.IntegrityError):
            _run("UPDATE suppliers SET name_key = 'allerganaestheticsdirect' WHERE name = 'Quay Pharma'")
        with pytest.raises(sa.exc.IntegrityError):
            _run("UPDATE suppliers SET licence_key = 'wdah0001' WHERE name = 'Quay Pharma'")

        downgrade(directory=directory, revision=BEFORE)
        assert not {"name_key", "licence_key"} & _columns()
        upgrade(directory=directory)
        assert {"name_key", "licence_key"} <= _columns()
