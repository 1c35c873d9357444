"""0018_transfer_refusal on a database of its own: down to 0017 and up again with transfers of every older status
on file (SQLite rebuilds the table, its rows set aside and put back), to exactly the models, with the status
CHECKs enforced as the model declares them; down again, a returned transfer becomes a call-back and a refused one
on its way back stops the downgrade."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from inventory.extensions import db
from inventory.models import Base
from inventory.services import ledger
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import RefusalCategory
from tests import factories
from tests.factories import NOW

LATER = NOW + dt.timedelta(days=1)
NEW_COLUMNS = {"refused_by_id", "refused_at", "refusal_category", "refusal_reason", "returned_by_id", "returned_at"}


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("transfers")}


def _rows(table: str, *columns: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"))]


def _refused(world: factories.World, lot: str, category: RefusalCategory = RefusalCategory.DAMAGED) -> int:
    transfer = factories.send_transfer(world, world.receive(lot=lot).containers)
    clinic_transfers.refuse(world.session, actor=world.users["manager"], scope=Scope.everything(),
                            transfer_id=transfer.id, now=LATER, reason="box crushed", category=category)
    return transfer.id


def _is_refused_by_the_database(statement: str) -> bool:
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text(statement))
    except IntegrityError:
        return True
    return False


def test_0018_keeps_every_transfer_matches_the_models_and_enforces_its_checks(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        everywhere = Scope.everything()
        manager = world.users["manager"]
        in_transit = factories.send_transfer(world, world.receive(lot="T1").containers).id
        received = factories.send_transfer(world, world.receive(lot="R1").containers).id
        clinic_transfers.receive(db.session, actor=manager, scope=everywhere, transfer_id=received, now=LATER)
        cancelled = factories.send_transfer(world, world.receive(lot="C1").containers).id
        clinic_transfers.cancel(db.session, actor=manager, scope=everywhere, transfer_id=cancelled, now=LATER)
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0017_receipts_need_supplier")
        assert not NEW_COLUMNS & _columns()
        before = _rows("transfers", "id", "status", "received_at", "cancelled_by_id", "note")
        items = _rows("transfer_items", "id", "transfer_id", "container_id", "out_movement_id", "in_movement_id")
        assert [row[1] for row in before] == ["in_transit", "received", "cancelled"]
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'refused' WHERE id = {in_transit}")

        upgrade(directory=directory)
        assert NEW_COLUMNS <= _columns()
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        assert _rows("transfers", "id", "status", "received_at", "cancelled_by_id", "note") == before
        assert _rows("transfer_items", "id", "transfer_id", "container_id", "out_movement_id",
                     "in_movement_id") == items
        assert {i["name"] for i in sa.inspect(db.engine).get_indexes("transfers")} >= {
            "ix_transfers_from_clinic_status", "ix_transfers_to_clinic_status"}
        names = {c["name"] for c in sa.inspect(db.engine).get_check_constraints("transfers")}
        assert names >= {"ck_transfers_transfer_status", "ck_transfers_transfer_refusal_category",
                         "ck_transfers_refused_has_refuser", "ck_transfers_returned_has_returner"}

        # The CHECKs the model declares hold: a status needs its facts, a category is one of the list.
        at, who = f"'{LATER.isoformat()}'", manager.id
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'refused' WHERE id = {in_transit}")
        assert _is_refused_by_the_database(
            f"UPDATE transfers SET status = 'refused', refused_at = {at}, refused_by_id = {who}, "
            f"refusal_reason = 'x', refusal_category = 'lost' WHERE id = {in_transit}")
        assert _is_refused_by_the_database(
            f"UPDATE transfers SET status = 'returned', refused_at = {at}, refused_by_id = {who}, "
            f"refusal_reason = 'x', refusal_category = 'other' WHERE id = {in_transit}")
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'lost' WHERE id = {in_transit}")

        # The service works on the upgraded database: the transfer in transit is refused, its return recorded.
        actor = db.session.get(type(manager), who)
        clinic_transfers.refuse(db.session, actor=actor, scope=everywhere, transfer_id=in_transit, now=LATER,
                                reason="warm", category=RefusalCategory.TEMPERATURE)
        db.session.commit()
        back = clinic_transfers.cancel(db.session, actor=actor, scope=everywhere, transfer_id=in_transit,
                                       now=LATER + dt.timedelta(days=1))
        assert back.status.value == "returned"
        db.session.commit()
        assert ledger.find_balance_mismatches(db.session) == []
        db.session.close()


def test_0018_down_turns_a_return_into_a_call_back_and_stops_for_one_on_its_way_back(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        manager = world.users["manager"]
        returned = _refused(world, "B1")
        back_at = LATER + dt.timedelta(days=1)
        clinic_transfers.cancel(db.session, actor=manager, scope=Scope.everything(), transfer_id=returned,
                                now=back_at)
        on_the_way_back = _refused(world, "W1", RefusalCategory.TEMPERATURE)
        db.session.commit()
        db.session.close()

        with pytest.raises(SystemExit):  # Flask-Migrate logs the RuntimeError and exits
            downgrade(directory=directory, revision="0017_receipts_need_supplier")
        assert NEW_COLUMNS <= _columns()
        # SQLite keeps the later revisions' downgrades that ran before 0018 stopped (its DDL is not transactional):
        # back to the head, whose transfers the services read.
        upgrade(directory=directory)

        clinic_transfers.cancel(db.session, actor=db.session.get(type(manager), manager.id),
                                scope=Scope.everything(), transfer_id=on_the_way_back, now=back_at)
        db.session.commit()
        db.session.close()
        downgrade(directory=directory, revision="0017_receipts_need_supplier")
        assert not NEW_COLUMNS & _columns()
        rows = {row[0]: row[1:] for row in _rows("transfers", "id", "status", "cancelled_by_id")}
        assert rows[returned] == rows[on_the_way_back] == ("cancelled", manager.id)
        upgrade(directory=directory)
        assert NEW_COLUMNS <= _columns()

