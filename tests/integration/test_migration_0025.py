"""0025_product_name_key on a database of its own: down, two product names that differ only in case and spaces
stop the way up (nothing changed), and once one is renamed, up again to exactly the models, every product keyed,
where the unique key refuses a second entry of one product."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from tests import factories


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("products")}


def test_0025_stops_on_names_that_read_alike_then_keys_every_product(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        factories.build_world(db.session)
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0024_transfer_lost")
        assert "name_key" not in _columns()
        with db.engine.begin() as connection:  # what a race of two admins let in
            connection.execute(sa.text("UPDATE products SET name = 'botox cosmetic 100U' WHERE name = 'Dysport 300 U'"))
        with pytest.raises(SystemExit):
            upgrade(directory=directory)
        assert "name_key" not in _columns()

        with db.engine.begin() as connection:  # the admin renamed the second entry
            connection.execute(sa.text("UPDATE products SET name = 'Dysport 300 U' WHERE name = 'botox cosmetic 100U'"))
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            keys = dict(connection.execute(sa.text("SELECT name, name_key FROM products")).all())
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert keys["Botox Cosmetic 100 U"] == "botoxcosmetic100u" and keys["Dysport 300 U"] == "dysport300u"
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE products SET name = 'BOTOX COSMETIC 100U', name_key = 'botoxcosmetic100u' "
                                       "WHERE name = 'Dysport 300 U'"))

        downgrade(directory=directory, revision="0024_transfer_lost")
        assert "name_key" not in _columns()
        upgrade(directory=directory)
        assert "name_key" in _columns()
