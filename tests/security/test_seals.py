"""Tamper evidence beyond the ledger (issue 21): draws with their patient, treatments, patients' identity,
lots' state and recall rows carry a seal that ``vialog verify`` recomputes. Changing any of them in the
database directly, as someone with SQL access would, is reported with the row; changes made through the
app keep every seal whole. Both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import insert, select, update

from inventory.models import Draw, Lot, LotStatus, Patient, Treatment
from inventory.services import audit_chain
from recall import services as recalls
from recall.models import RecallCase, RecallContainer, RecallLot, RecallPatient
from tests import factories
from tests.factories import EVERYWHERE, NOW
from tests.recall_helpers import share_toxins


def _verify(app: Flask):
    return app.test_cli_runner().invoke(args=["verify"])


@pytest.fixture
def trace(session, world):
    """Two patients treated from one lot, the lot recalled, a patient line notified: every sealed table."""
    share_toxins(world)
    vial = factories.reconstitute(world, world.container("botox", containers=2))
    ada = factories.start_treatment(world, "P-ADA")
    bob = factories.start_treatment(world, "P-BOB")
    first = factories.draw(world, ada, vial, "4").draw
    factories.draw(world, bob, vial, "6")
    factories.close_treatment(world, ada)
    safety = world.users["safety"]
    case = recalls.open_recall(session, actor=safety, lot_ids=[vial.lot_id], reason="Notice 12",
                               recall_class="II", source="manufacturer", now=NOW)
    recalls.update_patient(session, actor=safety, scope=EVERYWHERE, case_id=case.id, patient_id=ada.patient_id,
                           status="notified", method="phone", note="told", now=NOW + dt.timedelta(hours=1))
    session.commit()  # the command's session shares the test's connection; the test still rolls back
    return {"draw": first, "ada": ada, "bob": bob, "vial": vial, "case": case, "session": session}


def test_every_trace_table_is_sealed_and_a_clean_history_verifies(app, session, trace):
    assert set(audit_chain.SEALED) == {"patients", "treatments", "draws", "lots", "recall_cases", "recall_lots",
                                       "recall_patients", "recall_containers"}
    for spec in audit_chain.SEALED.values():
        seals = session.scalars(select(spec.model.row_seal)).all()
        assert seals and all(seal is not None and len(seal) == 64 for seal in seals), spec.model
    assert audit_chain.find_seal_breaks(session) == []
    result = _verify(app)
    assert result.exit_code == 0, result.output


def test_changes_through_the_app_reseal_the_row(app, session, world, trace):
    safety = world.users["safety"]
    other = world.receive("botox", lot="OTHER1").lot
    recalls.quarantine(session, actor=safety, lot_id=other.id, reason="looks odd", now=NOW)
    recalls.release(session, actor=safety, lot_id=other.id, reason="fine", now=NOW + dt.timedelta(hours=1))
    factories.close_treatment(world, trace["bob"])
    session.commit()
    assert audit_chain.find_seal_breaks(session) == []


TAMPERING = {
    # which patient a dose was given to: the trace and the recall list read draws.patient_id
    "draw moved to another patient": lambda t: (Draw, t["draw"].id, {"patient_id": t["bob"].patient_id}),
    "draw moved to another treatment": lambda t: (Draw, t["draw"].id, {"treatment_id": t["bob"].id}),
    "dose made smaller": lambda t: (Draw, t["draw"].id, {"quantity": 1}),
    "treatment moved to another patient": lambda t: (Treatment, t["ada"].id, {"patient_id": t["bob"].patient_id}),
    "patient renamed": lambda t: (Patient, t["ada"].patient_id, {"name": "Someone Else"}),
    "patient date of birth changed": lambda t: (Patient, t["ada"].patient_id, {"date_of_birth": dt.date(1980, 1, 1)}),
    "recalled lot made active again": lambda t: (Lot, t["vial"].lot_id, {"status": LotStatus.ACTIVE.value}),
    "lot expiry moved": lambda t: (Lot, t["vial"].lot_id, {"expiry": dt.date(2099, 1, 1)}),
    "recall case closed": lambda t: (RecallCase, t["case"].id, {"status": "closed", "closed_at": NOW}),
    "recall case reason rewritten": lambda t: (RecallCase, t["case"].id, {"reason": "nothing happened"}),
    "recall patient marked notified": lambda t: (RecallPatient, _line(t, RecallPatient, "patient_id", t["bob"].patient_id),
                                                 {"status": "notified", "method": "letter"}),
    "recall container marked returned": lambda t: (RecallContainer, _line(t, RecallContainer, "container_id",
                                                                          t["vial"].id), {"status": "returned"}),
    "recall lot swapped": lambda t: (RecallLot, _line(t, RecallLot, "lot_id", t["vial"].lot_id), {"previous_status":
                                                                                                  "quarantined"}),
}


def _line(trace, model, column, value) -> int:
    session = trace["session"]
    return session.scalar(select(model.id).where(model.case_id == trace["case"].id, getattr(model, column) == value))


@pytest.mark.parametrize("what", list(TAMPERING))
def test_verify_reports_a_trace_row_changed_in_the_database(app, session, trace, backend, what):
    model, row_id, values = TAMPERING[what](trace)
    assert row_id is not None
    session.execute(update(model.__table__).where(model.__table__.c.id == row_id).values(**values))
    session.commit()

    breaks = audit_chain.find_seal_breaks(session)
    table = model.__table__.name
    assert [(b.table, b.row_id) for b in breaks] == [(table, row_id)], breaks
    result = _verify(app)
    assert result.exit_code == 1
    assert f"BROKEN {table} row {row_id} (seal): row_seal does not match the row" in result.output


def test_verify_reports_a_trace_row_written_outside_the_app(app, session, world, trace):
    session.execute(insert(Patient.__table__).values(clinic_id=world.clinic.id, external_ref="FORGED", name="Nobody"))
    session.commit()
    forged = session.scalar(select(Patient.id).where(Patient.external_ref == "FORGED"))
    result = _verify(app)
    assert result.exit_code == 1
    assert f"BROKEN patients row {forged} (seal): row_seal is missing" in result.output


def test_rows_of_a_bulk_insert_are_sealed_in_slices(app, session, world, trace, monkeypatch):
    """A bulk INSERT runs no mapper events: ``seal_existing_rows`` seals its rows afterwards, in slices (a
    statement takes at most 65,535 parameters on PostgreSQL; the bench inserts 70,000 treatments at once)."""
    monkeypatch.setattr(audit_chain, "_SEAL_BATCH", 2)
    ids = list(session.scalars(insert(Patient).returning(Patient.id), [
        {"clinic_id": world.clinic.id, "external_ref": f"BULK-{i}", "name": f"Bulk {i}"} for i in range(5)]))
    assert {b.row_id for b in audit_chain.find_seal_breaks(session)} == set(ids)
    assert audit_chain.seal_existing_rows(session.connection(), audit_chain.SEALED["patients"], ids) == 5
    session.commit()
    assert audit_chain.find_seal_breaks(session) == []
    assert _verify(app).exit_code == 0


def test_a_copied_seal_does_not_fit_another_row(app, session, trace):
    """Seals bind the row's id: swapping two patients' names together with their seals is still caught."""
    ada, bob = (session.get(Patient, trace[k].patient_id) for k in ("ada", "bob"))
    rows = {p.id: (p.name, p.row_seal) for p in (ada, bob)}
    for mine, theirs in ((ada.id, bob.id), (bob.id, ada.id)):
        name, seal = rows[theirs]
        session.execute(update(Patient.__table__).where(Patient.__table__.c.id == mine)
                        .values(name=name, row_seal=seal, external_ref=f"SWAP-{mine}"))
    session.commit()
    assert {b.row_id for b in audit_chain.find_seal_breaks(session)} == {ada.id, bob.id}


def test_the_draw_path_pays_one_hash_and_no_extra_statement(session, world, monkeypatch):
    vial = factories.reconstitute(world, world.container("botox"))
    treatment = factories.start_treatment(world, "P-COST")
    session.flush()
    calls = []
    original = audit_chain.row_seal
    monkeypatch.setattr(audit_chain, "row_seal", lambda *a: calls.append(a[0].model) or original(*a))
    statements: list[str] = []
    from sqlalchemy import event

    engine = session.get_bind()

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0].upper() + " " + statement.split()[1 if "INTO" not in statement else 2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        factories.draw(world, treatment, vial, "4")
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert calls == [Draw]  # one seal: the draw's; the treatment, patient and lot are unchanged
    assert not any(s.startswith("UPDATE") and "draws" in s for s in statements), statements


def test_0011_seals_the_rows_already_there_and_goes_down_again(committed_app):
    """A 0007 database with a history: after 0011 every row carries its seal and verify is clean; down
    again the columns are gone and every row kept."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from inventory.extensions import db

    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        world = factories.build_world(session)
        vial = factories.reconstitute(world, world.container("botox", lot="MIG0011"))
        factories.draw(world, factories.start_treatment(world, "P-0011"), vial, "20")
        session.commit()
        session.close()

        downgrade(directory=directory, revision="0007_clinical_safety")
        assert "row_seal" not in {c["name"] for c in sa.inspect(db.engine).get_columns("draws")}
        with db.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM draws")) == 1
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            for table in audit_chain.SEALED:
                assert connection.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE row_seal IS NULL")) == 0
        assert audit_chain.find_seal_breaks(db.session) == []
        result = committed_app.test_cli_runner().invoke(args=["verify"])
        assert result.exit_code == 0, result.output
