"""Each draw carries its lot, patient and clinic (migration 0006_trace_draws), and the traces read them.

Behaviour, not timing (docs/performance.md): a draw copies its container's lot and its
treatment's patient and clinic when it is written; the migration back-fills the same values
for draws written before it; the trace statements can find a lot's or a patient's draws
through the two new indexes; and a dose whose container label the caller did not hand in
still gets it.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from inventory.extensions import db
from inventory.models import Base, Draw
from inventory.services.permissions import Scope
from recall import queries
from tests import factories
from tests import recall_helpers as rh
from tests.factories import patient, reconstitute
from tests.statements import plan, recorded

# Each draw's lot, patient and clinic, found the long way: through its container and treatment.
DRAW_KEYS = text("""
    SELECT d.id, c.lot_id, t.patient_id, t.clinic_id
    FROM draws d JOIN containers c ON c.id = d.container_id JOIN treatments t ON t.id = d.treatment_id
""")


def test_a_draw_carries_its_containers_lot_and_its_treatments_patient_and_clinic(world, session):
    rh.share_toxins(world)
    nyc = world.other_clinic
    vial = reconstitute(world, world.container("botox", lot="KEYS1", location=world.location("Fridge", nyc)))
    who = patient(world, "NY-7", clinic=nyc)
    draw = rh.give(world, rh.treat(world, who), vial, "4")
    session.expire_all()
    stored = session.execute(select(Draw.lot_id, Draw.patient_id, Draw.clinic_id).where(Draw.id == draw.id)).one()
    assert tuple(stored) == (vial.lot_id, who.id, nyc.id)
    assert {tuple(r[1:]) for r in session.execute(DRAW_KEYS) if r[0] == draw.id} == {tuple(stored)}


def test_a_dose_whose_container_the_caller_did_not_list_still_has_its_label(world, history, session):
    lot_id = history.lots["botox"]
    (lot,) = queries.lots_by_ids(session, [lot_id])
    joined = queries.dose_lines(session, Scope.everything(), Draw.lot_id == lot_id)
    looked_up = queries.dose_lines(session, Scope.everything(), Draw.lot_id == lot_id, lots=[lot], labels={})
    assert joined and looked_up == joined
    assert {d.label_code for d in joined} == set(session.scalars(
        text("SELECT label_code FROM containers WHERE id IN (SELECT container_id FROM draws WHERE lot_id = :l)"),
        {"l": lot_id}))


def test_the_traces_can_find_draws_by_lot_and_by_patient_through_their_indexes(world, history, session, backend):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    lots = queries.lots_by_ids(session, [history.lots["botox"]])
    with recorded(session) as lot_statements:
        queries.lot_traces(session, lots, Scope.everything())
    with recorded(session) as patient_statements:
        queries.patient_trace(session, history.patients[1].id, Scope.everything())
    (by_lot,) = [s for s in lot_statements if "FROM draws" in s[0]]
    (by_patient,) = [s for s in patient_statements if "FROM draws" in s[0]]
    assert "ix_draws_lot_id" in plan(session, *by_lot)
    assert "ix_draws_patient_id" in plan(session, *by_patient)


# --- the migration, on a database of its own ------------------------------------------------------------


def test_the_migration_fills_the_copied_keys_of_draws_written_before_it(committed_app):
    """On a database of its own (``committed_app``), moved down to 0005 and up again."""
    own_app = committed_app
    directory = own_app.extensions["migrate"].directory
    with own_app.app_context():
        session = db.session
        history = rh.build_history(factories.build_world(session), patients=12)
        written = {d.id: (d.lot_id, d.patient_id, d.clinic_id) for d in history.draws}
        assert len({c.clinic_id for c in history.patients}) == 2 and history.reversed_draw_ids
        session.commit()
        session.close()

        downgrade(directory=directory, revision="0005_performance")
        columns = {c["name"] for c in inspect(db.engine).get_columns("draws")}
        assert columns and columns.isdisjoint({"lot_id", "patient_id", "clinic_id"})

        upgrade(directory=directory, revision="0006_trace_draws")
        with db.engine.connect() as connection:
            filled = {r[0]: tuple(r[1:]) for r in connection.execute(
                text("SELECT id, lot_id, patient_id, clinic_id FROM draws"))}
            the_long_way = {r[0]: tuple(r[1:]) for r in connection.execute(DRAW_KEYS)}
        assert filled == written == the_long_way
        table = inspect(db.engine)
        copied = [c for c in table.get_columns("draws") if c["name"] in {"lot_id", "patient_id", "clinic_id"}]
        assert len(copied) == 3 and not any(c["nullable"] for c in copied)
        assert {("lot_id", "lots"), ("patient_id", "patients"), ("clinic_id", "clinics")} <= {
            (fk["constrained_columns"][0], fk["referred_table"]) for fk in table.get_foreign_keys("draws")}
        # PostgreSQL drops the table's own indexes and keys for the back-fill: all are back.
        assert table.get_pk_constraint("draws")["constrained_columns"] == ["id"]
        assert [u["column_names"] for u in table.get_unique_constraints("draws")] == [["movement_id"]]
        assert {i["name"] for i in table.get_indexes("draws")} >= {
            "ix_draws_container_id", "ix_draws_treatment_id", "ix_draws_lot_id", "ix_draws_patient_id"}

        upgrade(directory=directory)  # and on to any later head: the schema is the models'
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        (trace,) = queries.lot_traces(session, queries.lots_by_ids(session, [history.lots["botox"]]),
                                      Scope.everything())
        assert {d.draw_id for d in trace.doses} == {d.id for d in history.draws if d.lot_id == history.lots["botox"]}


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
def history(world):
    return rh.build_history(world, patients=20)
