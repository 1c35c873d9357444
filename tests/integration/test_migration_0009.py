"""0009_recall_integrity on a database of its own: up with rows from before, down (refused while a patient line
is not required), every row kept, and up again to exactly the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base
from recall import services
from tests import factories, recall_helpers as rh
from tests.factories import NOW


def test_0009_goes_down_and_up_again_keeping_every_receipt(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        world = factories.build_world(session)
        world.receive("botox", lot="MIG0009", containers=2)
        rh.share_toxins(world)
        vial = factories.reconstitute(world, world.container("botox", lot="MIG0009B"))
        rh.give(world, rh.treat(world, factories.patient(world, "P-9")), vial, "4")
        services.open_recall(session, actor=world.users["safety"], lot_ids=[vial.lot_id], reason="r",
                             recall_class="III", source="internal", now=NOW)
        session.commit()
        session.close()

        with pytest.raises(SystemExit):  # a not_required line has no place below 0009
            downgrade(directory=directory, revision="0007_clinical_safety")
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE recall_patients SET status = 'pending'"))
        downgrade(directory=directory, revision="0007_clinical_safety")
        table = sa.inspect(db.engine)
        assert not table.has_table("suppliers") and not table.has_table("watched_lots")
        assert "supplier_id" not in {c["name"] for c in table.get_columns("receipts")}
        assert {"phone", "email", "address"}.isdisjoint(c["name"] for c in table.get_columns("patients"))
        with db.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM receipts")) == 2
            assert connection.scalar(sa.text("SELECT count(*) FROM containers")) == 3

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM receipts WHERE supplier_id IS NULL")) == 2
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        with db.engine.begin() as connection:  # the new status fits the new CHECK
            connection.execute(sa.text("UPDATE recall_patients SET status = 'not_required'"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE recall_patients SET status = 'forgotten'"))
