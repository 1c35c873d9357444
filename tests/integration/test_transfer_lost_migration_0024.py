"""0024_transfer_lost on a database of its own: down to 0023 and up again with transfers of every older status on
file (SQLite rebuilds the table, its rows set aside and put back), to exactly the models, with the CHECKs enforced
as the model declares them (lost needs who, when and why; a refused box lost on its way back keeps its refusal);
the service declares boxes lost on the upgraded database; down again stops while a transfer is recorded lost."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from inventory.extensions import db
from inventory.models import Base, User
from inventory.services import ledger
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import RefusalCategory, TransferStatus
from tests import factories
from tests.factories import NOW

LATER = NOW + dt.timedelta(days=1)
NEW_COLUMNS = {"lost_by_id", "lost_at", "lost_reason"}
KEPT = ("id", "status", "received_at", "cancelled_by_id", "refused_by_id", "refusal_reason", "returned_at", "note")


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("transfers")}


def _rows(table: str, *columns: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"))]


def _is_refused_by_the_database(statement: str) -> bool:
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text(statement))
    except IntegrityError:
        return True
    return False


def _transfers_of_every_older_status(world: factories.World) -> dict[str, int]:
    everywhere, manager = Scope.everything(), world.users["manager"]
    ids = {status: factories.send_transfer(world, world.receive(lot=f"{status[:3].upper()}1").containers).id
           for status in ("in_transit", "received", "cancelled", "refused", "returned")}
    clinic_transfers.receive(db.session, actor=manager, scope=everywhere, transfer_id=ids["received"], now=LATER)
    clinic_transfers.cancel(db.session, actor=manager, scope=everywhere, transfer_id=ids["cancelled"], now=LATER)
    for status in ("refused", "returned"):
        clinic_transfers.refuse(db.session, actor=manager, scope=everywhere, transfer_id=ids[status], now=LATER,
                                reason="box crushed", category=RefusalCategory.DAMAGED)
    clinic_transfers.cancel(db.session, actor=manager, scope=everywhere, transfer_id=ids["returned"], now=LATER)
    return ids


def test_0024_keeps_every_transfer_matches_the_models_and_enforces_its_checks(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        ids = _transfers_of_every_older_status(world)
        manager_id = world.users["manager"].id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0023_patient_ref_key")
        assert not NEW_COLUMNS & _columns()
        before = _rows("transfers", *KEPT)
        items = _rows("transfer_items", "id", "transfer_id", "container_id", "out_movement_id", "in_movement_id")
        assert [row[1] for row in before] == ["in_transit", "received", "cancelled", "refused", "returned"]
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'lost' WHERE id = {ids['in_transit']}")

        upgrade(directory=directory)
        assert NEW_COLUMNS <= _columns()
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        assert _rows("transfers", *KEPT) == before
        assert _rows("transfer_items", "id", "transfer_id", "container_id", "out_movement_id",
                     "in_movement_id") == items
        assert {i["name"] for i in sa.inspect(db.engine).get_indexes("transfers")} >= {
            "ix_transfers_from_clinic_status", "ix_transfers_to_clinic_status"}
        names = {c["name"] for c in sa.inspect(db.engine).get_check_constraints("transfers")}
        assert names >= {"ck_transfers_transfer_status", "ck_transfers_refused_has_refuser",
                         "ck_transfers_returned_has_returner", "ck_transfers_lost_has_declarer",
                         "ck_transfers_received_has_receiver", "ck_transfers_cancelled_has_canceller"}

        # The CHECKs the model declares hold: lost needs who, when and why, and nothing else has them.
        at, who = f"'{LATER.isoformat()}'", manager_id
        in_transit, refused = ids["in_transit"], ids["refused"]
        lost = f"lost_at = {at}, lost_by_id = {who}, lost_reason = 'lost'"
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'lost' WHERE id = {in_transit}")
        assert _is_refused_by_the_database(
            f"UPDATE transfers SET status = 'lost', lost_at = {at}, lost_by_id = {who} WHERE id = {in_transit}")
        assert _is_refused_by_the_database(f"UPDATE transfers SET {lost} WHERE id = {in_transit}")
        assert _is_refused_by_the_database(f"UPDATE transfers SET status = 'gone', {lost} WHERE id = {in_transit}")
        # A lost transfer keeps a refusal whole, or has none.
        assert _is_refused_by_the_database(
            f"UPDATE transfers SET status = 'lost', {lost}, refusal_reason = NULL WHERE id = {refused}")
        assert _is_refused_by_the_database(
            f"UPDATE transfers SET status = 'lost', {lost}, refused_at = {at} WHERE id = {in_transit}")
        assert _rows("transfers", *KEPT) == before

        # The service works on the upgraded database: both boxes on the road are declared lost.
        actor = db.session.get(User, manager_id)
        for transfer_id in (in_transit, refused):
            gone = clinic_transfers.declare_lost(db.session, actor=actor, scope=Scope.everything(),
                                                 transfer_id=transfer_id, reason="courier lost it", now=LATER)
            assert gone.status is TransferStatus.LOST
        db.session.commit()
        rows = {row[0]: row[1:] for row in _rows("transfers", "id", "status", "lost_by_id", "refusal_reason")}
        assert rows[in_transit] == ("lost", manager_id, None)
        assert rows[refused] == ("lost", manager_id, "box crushed")
        assert ledger.find_balance_mismatches(db.session) == []
        db.session.close()


def test_0024_goes_down_and_up_and_stops_while_a_transfer_is_recorded_lost(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        transfer_id = factories.send_transfer(world, world.receive(lot="L1", containers=2).containers).id
        manager_id = world.users["manager"].id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0023_patient_ref_key")
        upgrade(directory=directory)
        clinic_transfers.declare_lost(db.session, actor=db.session.get(User, manager_id), scope=Scope.everything(),
                                      transfer_id=transfer_id, reason="courier lost it", now=LATER)
        db.session.commit()
        db.session.close()

        with pytest.raises(SystemExit):  # Flask-Migrate logs the RuntimeError and exits
            downgrade(directory=directory, revision="0023_patient_ref_key")
        assert NEW_COLUMNS <= _columns()
        assert _rows("transfers", "id", "status", "lost_reason") == [(transfer_id, "lost", "courier lost it")]
        assert len(_rows("transfer_missing_items", "id")) == 2
