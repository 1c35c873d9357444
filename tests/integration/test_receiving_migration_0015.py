"""0015_pack_serials on a database of its own: down, rows as the old receiving left them (a pack of several
kept its serial only in the scanned code, and a copied box got in), up again: the register is back-filled from
containers and scanned codes, the earlier receipt holding a repeated serial, and the schema is the models'."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.errors import DuplicateSerial
from inventory.extensions import db
from inventory.models import Base, User
from inventory.receiving import service as receiving
from tests import factories
from tests.factories import EVERYWHERE, NOW


def test_0015_goes_down_and_up_again_filling_the_register_from_what_receiving_kept(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        world = factories.build_world(session)
        gtin, fridge = world.botox.gtins[0].gtin, world.location().id

        def receive(lot: str, serial: str, containers: int) -> int:
            return receiving.receive(session, actor=world.users["manager"], scope=EVERYWHERE,
                                     location_id=world.location().id, containers=containers, now=NOW,
                                     code=f"(01){gtin}(17)281231(10){lot}(21){serial}").id

        one = receive("MIG1", "S1", 1)
        several = receive("MIG2", "S2", 3)
        copied = receive("MIG3", "S3", 2)
        typed = world.receive("botox", lot="MIG4", containers=2).id
        session.commit()
        session.close()

        downgrade(directory=directory, revision="0014_unique_serial")
        assert not sa.inspect(db.engine).has_table("pack_serials")
        with db.engine.begin() as connection:  # the old receiving let a copy of S2's box in
            connection.execute(sa.text("UPDATE receipts SET scanned_code = :code WHERE id = :id"),
                               {"code": f"(01){gtin}(17)281231(10)MIG3(21)S2", "id": copied})

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            register = connection.execute(sa.text(
                "SELECT receipt_id, product_id, serial FROM pack_serials ORDER BY receipt_id")).all()
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert [tuple(row) for row in register] == [(one, world.botox.id, "S1"), (several, world.botox.id, "S2")]
        assert typed not in {row[0] for row in register}

        # The register refuses a repeat by itself, and receiving answers it.
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO pack_serials (product_id, serial, receipt_id) "
                                       "VALUES (:product, 'S2', :receipt)"), {"product": world.botox.id,
                                                                              "receipt": typed})
        manager = session.scalar(sa.select(User).where(User.username == "manager"))
        with pytest.raises(DuplicateSerial):
            receiving.receive(session, actor=manager, scope=EVERYWHERE, location_id=fridge, containers=2, now=NOW,
                              code=f"(01){gtin}(17)281231(10)MIG5(21)S2")
        session.rollback()
