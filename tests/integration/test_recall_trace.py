"""Trace: lot -> containers -> draws -> patients, and patient -> lots, on a generated history.

The trace queries join draws to containers to lots. The expected answers here are
written independently, in raw SQL over another path: the ledger's own draw
movements (``movements.lot_id`` and ``movements.treatment_id``) and their reversals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from inventory.errors import DomainError, NotFound, ValidationError
from inventory.models import AuditEvent, User
from inventory.services.permissions import Scope
from recall import queries, services
from tests import recall_helpers as rh
from tests.factories import NOW, patient, reconstitute
from tests.statements import recorded

# --- independent expectations ------------------------------------------------------------------

DRAWS_OF_LOT = text("""
    SELECT m.id AS movement_id, t.patient_id, t.clinic_id,
           CASE WHEN EXISTS (SELECT 1 FROM movements r WHERE r.reverses_id = m.id) THEN 1 ELSE 0 END AS is_reversed
    FROM movements m, treatments t
    WHERE m.kind = 'draw' AND m.lot_id = :lot_id AND t.id = m.treatment_id
""")
CONTAINERS_OF_LOT = text("SELECT id, clinic_id, location_id FROM containers WHERE lot_id = :lot_id")
LOTS_OF_PATIENT = text("""
    SELECT DISTINCT m.lot_id FROM movements m
    WHERE m.kind = 'draw' AND m.treatment_id IN (SELECT id FROM treatments WHERE patient_id = :patient_id)
      AND NOT EXISTS (SELECT 1 FROM movements r WHERE r.reverses_id = m.id)
""")


def expected_draws(session, lot_id: int, clinic_ids: set[int] | None = None) -> set[tuple[int, int, bool]]:
    rows = session.execute(DRAWS_OF_LOT, {"lot_id": lot_id}).all()
    return {(r.movement_id, r.patient_id, bool(r.is_reversed)) for r in rows
            if clinic_ids is None or r.clinic_id in clinic_ids}


def expected_patients(session, lot_id: int, clinic_ids: set[int] | None = None) -> set[int]:
    return {patient for _, patient, is_reversed in expected_draws(session, lot_id, clinic_ids) if not is_reversed}


@contextlib.contextmanager
def count_statements(session) -> Iterator[list[str]]:
    """Every SQL statement the session's connection sends inside the block."""
    statements: list[str] = []
    with recorded(session) as sent:
        yield statements
    statements.extend(statement for statement, _ in sent)


# --- lot -> patients -------------------------------------------------------------------------------


@pytest.fixture
def history(world):
    return rh.build_history(world, patients=40)


def test_lot_trace_matches_the_ledger_for_every_lot(world, history, session):
    lots = queries.lots_by_ids(session, history.lots.values())
    traces = queries.lot_traces(session, lots, Scope.everything())
    assert [t.lot.id for t in traces] == list(history.lots.values())
    for trace in traces:
        got = {(d.movement_id, d.patient.id, d.is_reversed) for d in trace.doses}
        assert got == expected_draws(session, trace.lot.id)
        assert {p.id for p in trace.patients} == expected_patients(session, trace.lot.id)
        containers = session.execute(CONTAINERS_OF_LOT, {"lot_id": trace.lot.id}).all()
        assert {(c.id, c.clinic.id, c.location_id) for c in trace.containers} == {tuple(r) for r in containers}
    botox = traces[0]
    assert len(botox.patients) >= 10 and any(d.is_reversed for t in traces for d in t.doses)


def test_a_reversed_draw_shows_as_reversed_and_is_not_a_dose_given(world, session):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="R1"))
    kept, corrected = patient(world, "P-KEPT"), patient(world, "P-WRONG")
    rh.give(world, rh.treat(world, kept), vial, "4")
    wrong = rh.give(world, rh.treat(world, corrected), vial, "8")
    rh.reverse(world, wrong)

    (trace,) = queries.lot_traces(session, [vial.lot], Scope.everything())
    by_patient = {d.patient.external_ref: d for d in trace.doses}
    assert by_patient["P-WRONG"].is_reversed and not by_patient["P-KEPT"].is_reversed
    assert [p.external_ref for p in trace.patients] == ["P-KEPT"]


def test_each_draw_carries_what_the_sticker_would(world, session):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="S1"))
    who = patient(world, "P-1", name="Alex Morgan")
    treatment = rh.treat(world, who, injector=world.users["nurse"])
    rh.give(world, treatment, vial, "0.1", unit="mL", area="forehead", injector=world.users["nurse"])

    (trace,) = queries.lot_traces(session, [vial.lot], Scope.everything())
    (dose,) = trace.doses
    assert (dose.treatment_id, dose.patient.name, dose.area) == (treatment.id, "Alex Morgan", "forehead")
    assert (dose.quantity, dose.quantity_ml, dose.base_unit) == (Decimal("4"), Decimal("0.1"), "U")
    assert dose.injector == world.users["nurse"].label
    assert (dose.label_code, dose.product) == (vial.label_code, "Botox Cosmetic 100 U")
    (line,) = trace.containers
    assert (line.location, line.state.value, line.remaining) == ("Fridge", "in_use", Decimal("96"))


def test_a_draw_is_dated_in_its_clinics_time_zone(world, session):
    rh.share_toxins(world)
    nyc = world.other_clinic
    vial = reconstitute(world, world.container("botox", lot="TZ1", location=world.location("Fridge", nyc)))
    late_evening = dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC)  # 22:00 on the 15th in New York
    rh.give(world, rh.treat(world, patient(world, "NY-1", clinic=nyc), at=late_evening), vial, at=late_evening)

    (trace,) = queries.lot_traces(session, [vial.lot], Scope.everything())
    (dose,) = trace.doses
    assert dose.at.date() == dt.date(2026, 6, 16)
    assert (dose.local_at.date(), dose.local_at.hour) == (dt.date(2026, 6, 15), 22)


def test_a_clinic_level_viewer_sees_only_their_clinics(world, history, session):
    lon = Scope.for_user(world.lon_safety_lead())
    lots = queries.lots_by_ids(session, [history.lots["botox"]])
    (everywhere,) = queries.lot_traces(session, lots, Scope.everything())
    (london,) = queries.lot_traces(session, lots, lon)
    assert {c.clinic.code for c in everywhere.containers} == {"LON", "NYC"}
    assert {c.clinic.code for c in london.containers} == {"LON"}
    assert {p.id for p in london.patients} == expected_patients(session, history.lots["botox"], {world.clinic.id})
    assert {g.clinic.code for g in everywhere.by_clinic()} == {"LON", "NYC"}
    assert [g.clinic.code for g in london.by_clinic()] == ["LON"]


# --- finding lots -----------------------------------------------------------------------------------


def test_a_typed_lot_number_matches_regardless_of_case_and_spaces(world, history, session):
    lots = queries.find_lots(session, "  c4120a1 ", Scope.everything())
    assert [lot.id for lot in lots] == [history.lots["botox_other"]]


def test_a_number_shared_by_two_products_names_both(world, history, session):
    lots = queries.find_lots(session, "c3709c3", Scope.everything())
    assert {lot.product.name for lot in lots} == {"Botox Cosmetic 100 U", "Dysport 300 U"}
    assert {lot.id for lot in lots} == {history.lots["botox"], history.lots["dysport"]}


def test_a_scanned_box_names_its_products_lot_only(world, history, session):
    gtin = world.botox.gtins[0].gtin
    for code in (f"]d201{gtin}17270331" "10c3709c3", f"(01){gtin}(17)270331(10)C3709C3", f"01{gtin}10C3709C3|17270331"):
        lots = queries.find_lots(session, code, Scope.everything())
        assert [lot.id for lot in lots] == [history.lots["botox"]], code


def test_a_scanned_vialog_label_names_its_containers_lot(world, session):
    container = world.container("botox", lot="LBL1")
    assert queries.find_lots(session, container.label_code.lower(), Scope.everything()) == [container.lot]
    nyc_nurse = Scope.for_user(world.users["other_nurse"])
    with pytest.raises(NotFound):
        queries.find_lots(session, container.label_code, nyc_nurse)


@pytest.mark.parametrize("typed, error", [
    ("", ValidationError), ("NOSUCHLOT", NotFound), ("X" * 600, ValidationError), ("12345678", NotFound),
])
def test_what_names_no_lot_is_refused_in_words(world, session, typed, error):
    world.receive("botox", lot="C3709C3")
    with pytest.raises(error) as caught:
        queries.find_lots(session, typed, Scope.everything())
    assert caught.value.message


def test_a_scanned_lot_never_received_is_not_found(world, session):
    gtin = world.botox.gtins[0].gtin
    with pytest.raises(NotFound) as caught:
        queries.find_lots(session, f"(01){gtin}(17)270331(10)FAKE999", Scope.everything())
    assert "FAKE999" in caught.value.message and "never received" in caught.value.message


def test_a_bare_gtin_names_no_lot(world, session):
    with pytest.raises(ValidationError):
        queries.find_lots(session, world.botox.gtins[0].gtin, Scope.everything())


# --- patient -> lots ---------------------------------------------------------------------------------


def test_patient_to_lots_matches_the_ledger(world, history, session):
    for who in history.patients:
        trace = queries.patient_trace(session, who.id, Scope.everything())
        received = {pl.lot.id for pl in trace.lots if pl.received}
        assert received == set(session.scalars(LOTS_OF_PATIENT, {"patient_id": who.id}))
        assert all(d.patient.id == who.id for pl in trace.lots for d in pl.doses)


def test_patient_to_lots_lists_every_lot_with_its_draws(world, session):
    rh.share_toxins(world)
    botox = reconstitute(world, world.container("botox", lot="PA1"))
    other = reconstitute(world, world.container("botox", lot="PA2"))
    syringe = world.container("filler", lot="PA3")
    who = patient(world, "P-LOTS")
    treatment = rh.treat(world, who)
    rh.give(world, treatment, botox, "4", area="glabella")
    rh.give(world, treatment, botox, "6", area="forehead")
    rh.reverse(world, rh.give(world, treatment, other, "4"))
    rh.give(world, treatment, syringe, "0.55", area="lip")

    trace = queries.patient_trace(session, who.id, Scope.everything())
    lots = {pl.lot.number: pl for pl in trace.lots}
    assert set(lots) == {"PA1", "PA2", "PA3"}
    assert [d.area for d in lots["PA1"].doses] == ["glabella", "forehead"]
    assert lots["PA1"].received and lots["PA3"].received and not lots["PA2"].received
    assert (lots["PA3"].doses[0].quantity, lots["PA3"].doses[0].base_unit) == (Decimal("0.55"), "mL")


def test_patient_of_another_clinic_answers_like_a_missing_one(world, session):
    nyc_patient = patient(world, "NY-9", clinic=world.other_clinic)
    lon = Scope.for_user(world.lon_safety_lead())
    with pytest.raises(NotFound):
        queries.patient_trace(session, nyc_patient.id, lon)
    with pytest.raises(NotFound):
        queries.patient_trace(session, 2**40, Scope.everything())


# --- set-based, and recorded -----------------------------------------------------------------------------


def test_a_trace_of_a_lot_with_500_patients_is_a_handful_of_statements(world, session):
    rh.share_toxins(world)
    small = reconstitute(world, world.container("botox", lot="SMALL1"))
    rh.give(world, rh.treat(world, patient(world, "S-1")), small, "1")
    vials = [reconstitute(world, c) for c in world.receive("botox", lot="BIG1", containers=5).containers]
    for n in range(500):
        who = patient(world, f"B-{n:03d}")
        rh.give(world, rh.treat(world, who), vials[n // 100], "1", at=NOW + n * dt.timedelta(seconds=5))
    session.flush()
    viewer_id = world.users["safety"].id

    def trace(number: str) -> tuple[queries.LotTrace, list[str], list[str]]:
        session.expunge_all()  # nothing already loaded may hide a lazy load
        viewer = session.get(User, viewer_id)
        with count_statements(session) as reads:
            lots = queries.find_lots(session, number, Scope.everything())
            (traced,) = queries.lot_traces(session, lots, Scope.everything())
            seen = [(d.patient.name, d.clinic.code, d.injector, d.local_at, d.product) for d in traced.doses]
            groups = traced.by_clinic()
            assert len(seen) == len(traced.doses) and groups and traced.lot.product.name
        with count_statements(session) as everything:  # the same trace as the pages and API run it, logged
            services.trace_lots(session, viewer=viewer, scope=Scope.everything(),
                                lots=queries.find_lots(session, number, Scope.everything()), now=NOW)
        return traced, reads, everything

    big, reads, logged = trace("big1")
    assert len(big.patients) == 500 and len(big.doses) == 500
    assert len(reads) <= 3, reads  # the lot, its containers, its doses
    _, small_reads, small_logged = trace("small1")
    assert (len(reads), len(logged)) == (len(small_reads), len(small_logged))  # the count does not grow with patients


def test_every_trace_is_written_to_the_access_log(world, history, session):
    viewer = world.users["safety"]
    lots = queries.lots_by_ids(session, [history.lots["botox"]])
    (trace,) = services.trace_lots(session, viewer=viewer, scope=Scope.everything(), lots=lots, now=NOW,
                                   query="c3709c3")
    services.trace_patient(session, viewer=viewer, scope=Scope.everything(), patient_id=history.patients[1].id,
                           now=NOW)
    events = session.query(AuditEvent).filter(AuditEvent.action == "patient_data.viewed").order_by(AuditEvent.id).all()
    lot_view, patient_view = events
    assert (lot_view.actor_id, lot_view.at, lot_view.object_type) == (viewer.id, NOW, "lot")
    assert lot_view.details["lot_ids"] == [history.lots["botox"]] and lot_view.details["query"] == "c3709c3"
    assert sorted(lot_view.details["patient_ids"]) == sorted(p.id for p in trace.patients)
    assert (patient_view.object_type, patient_view.object_id) == ("patient", str(history.patients[1].id))


def test_unknown_ids_are_not_found(world, session):
    for bad in (0, 999999, 2**40):
        with pytest.raises(DomainError):
            queries.lots_by_ids(session, [bad])
