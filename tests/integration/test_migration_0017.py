"""0017_receipts_need_supplier on a database of its own: down, a clinic opened the old way (no such column); up
again to exactly the models, every clinic with the setting off, so no client that received without a supplier is
refused after the upgrade; down drops the setting and keeps the receipts."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from tests import factories

OLD_CLINIC = sa.text(
    "INSERT INTO clinics (code, name, timezone, filler_hold_days, kit_warning_days, created_at) "
    "VALUES ('PAR', 'Paris', 'Europe/Paris', 0, 30, CURRENT_TIMESTAMP)"
)


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("clinics")}


def _count(table: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_0017_adds_receipts_need_supplier_off_for_every_clinic_and_goes_down_again(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        world.receive("botox", lot="MIG17")  # a receipt without a supplier, as the contract sends it
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0016_username_key")
        assert "receipts_need_supplier" not in _columns()
        with db.engine.begin() as connection:  # what the old code wrote: no such column
            connection.execute(OLD_CLINIC)

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            settings = dict(connection.execute(sa.text("SELECT code, receipts_need_supplier FROM clinics")).all())
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert settings == {"LON": False, "NYC": False, "PAR": False}
        with db.engine.begin() as connection:  # a row written without the column takes the server default
            connection.execute(sa.text(OLD_CLINIC.text.replace("'PAR', 'Paris', 'Europe/Paris'",
                                                               "'BER', 'Berlin', 'Europe/Berlin'")))
            assert not connection.execute(sa.text(
                "SELECT receipts_need_supplier FROM clinics WHERE code = 'BER'")).scalar_one()

        receipts = _count("receipts")
        downgrade(directory=directory, revision="0016_username_key")
        assert "receipts_need_supplier" not in _columns()
        assert _count("receipts") == receipts == 1
        upgrade(directory=directory)
        assert "receipts_need_supplier" in _columns()
