"""0021_transfer_missing_items on a database of its own: down to 0020 and up again to exactly the models while no
container is recorded missing; with one recorded missing, the downgrade stops and keeps the record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base, User
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests import factories
from tests.factories import NOW


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_0021_goes_down_and_up_and_stops_while_a_container_is_recorded_missing(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        whole = factories.send_transfer(world, world.receive(lot="W1").containers)
        clinic_transfers.receive(db.session, actor=world.users["manager"], scope=Scope.everything(),
                                 transfer_id=whole.id, now=NOW)
        vials = world.receive(lot="P1", containers=2).containers
        partial_id, lost_id = factories.send_transfer(world, vials).id, vials[1].id
        manager_id = world.users["manager"].id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0020_quarantine_watched_lots")
        assert "transfer_missing_items" not in _tables()
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []

        clinic_transfers.receive(db.session, actor=db.session.get(User, manager_id), scope=Scope.everything(),
                                 transfer_id=partial_id, now=NOW, missing=[lost_id], missing_reason="not in the box")
        db.session.commit()
        db.session.close()

        with pytest.raises(SystemExit):  # Flask-Migrate logs the RuntimeError and exits
            downgrade(directory=directory, revision="0020_quarantine_watched_lots")
        assert "transfer_missing_items" in _tables()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT item_id, reason FROM transfer_missing_items").all() == [
                (connection.exec_driver_sql(
                    f"SELECT id FROM transfer_items WHERE container_id = {lost_id}").scalar(), "not in the box")]
