"""Recall cases: opening builds both work lists, each line is worked and recorded, closing waits for both."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.errors import DomainError, NotFound, RecallOpenItems, ValidationError
from inventory.models import AuditEvent, ContainerState, LotStatus, Movement, MovementKind
from inventory.services.permissions import Scope
from recall import services
from recall.models import NotificationMethod, NotificationStatus, RecallContainerStatus, RecallStatus
from tests import recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

LATER = NOW + dt.timedelta(hours=2)


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


class Scenario:
    """Two Botox lots: London gave doses from both, New York from one; one draw reversed, one vial used up."""

    def __init__(self, world: World):
        rh.share_toxins(world)
        self.world = world
        nyc = world.other_clinic
        a = world.receive("botox", lot="RA1", containers=3).containers
        a_ny = world.receive("botox", lot="RA1", containers=1, location=world.location("Fridge", nyc)).containers
        b = world.receive("botox", lot="RB2", containers=2).containers
        self.lot_a, self.lot_b = a[0].lot, b[0].lot
        vial_a, vial_ny, vial_b, used_up = (reconstitute(world, c) for c in (a[0], a_ny[0], b[0], a[1]))
        self.alice, self.bob, self.carol = (patient(world, ref, name=name) for ref, name in
                                            [("L-1", "Alice"), ("L-2", "Bob"), ("L-3", "Carol")])
        self.dan = patient(world, "N-1", clinic=nyc, name="Dan")
        rh.give(world, rh.treat(world, self.alice), vial_a, "4")
        bob = rh.treat(world, self.bob)
        rh.give(world, bob, vial_b, "4")
        rh.give(world, bob, vial_b, "2", area="forehead")
        rh.reverse(world, rh.give(world, rh.treat(world, self.carol), vial_a, "8"))  # Carol received nothing
        rh.give(world, rh.treat(world, self.dan), vial_ny, "4")
        # Used up (not on the container list); into the masseters, outside Botox's 64 U session maximum.
        rh.give(world, rh.treat(world, self.alice), used_up, "100", area="masseter_left")
        self.live = {a[0].id, a[2].id, a_ny[0].id, b[0].id, b[1].id}
        self.used_up = used_up

    def open(self, **overrides):
        args = dict(actor=self.world.users["safety"], lot_ids=[self.lot_a.id, self.lot_b.id],
                    reason="Manufacturer notice 2026-14: sterility", recall_class="II", source="manufacturer",
                    now=NOW) | overrides
        return services.open_recall(self.world.session, **args)


@pytest.fixture
def scenario(world):
    return Scenario(world)


def test_opening_recalls_the_lots_and_builds_both_lists(scenario, session):
    case = scenario.open()
    assert (case.status, case.recall_class.value, case.source.value) == (RecallStatus.OPEN, "II", "manufacturer")
    assert [rl.lot_id for rl in case.lots] == [scenario.lot_a.id, scenario.lot_b.id]
    assert all(lot.status is LotStatus.RECALLED for lot in (scenario.lot_a, scenario.lot_b))
    assert scenario.lot_a.status_reason == "Manufacturer notice 2026-14: sterility"
    assert {p.patient_id for p in case.patients} == {scenario.alice.id, scenario.bob.id, scenario.dan.id}
    assert all(p.status is NotificationStatus.PENDING and p.method is None for p in case.patients)
    assert {p.patient_id: p.clinic_id for p in case.patients}[scenario.dan.id] == scenario.world.other_clinic.id
    assert {c.container_id for c in case.containers} == scenario.live
    assert scenario.used_up.id not in {c.container_id for c in case.containers}


def test_a_quarantined_lot_is_recalled_and_remembers_it(scenario, session):
    services.quarantine(session, actor=scenario.world.users["safety"], lot_id=scenario.lot_a.id, reason="alert",
                        now=NOW)
    case = scenario.open()
    assert {rl.lot_id: rl.previous_status for rl in case.lots} == {
        scenario.lot_a.id: LotStatus.QUARANTINED, scenario.lot_b.id: LotStatus.ACTIVE}


@pytest.mark.parametrize("overrides, field", [
    ({"lot_ids": []}, "lot_ids"), ({"reason": " "}, "reason"), ({"recall_class": "IV"}, "recall_class"),
    ({"source": "rumour"}, "source"),
])
def test_opening_needs_lots_reason_class_and_source(scenario, session, overrides, field):
    with pytest.raises(ValidationError) as caught:
        scenario.open(**overrides)
    assert caught.value.details["field"] == field
    assert scenario.lot_a.status is LotStatus.ACTIVE


def test_an_unknown_lot_opens_nothing(scenario, session):
    with pytest.raises(NotFound):
        scenario.open(lot_ids=[scenario.lot_a.id, 999999])


def test_a_lot_in_an_open_case_is_not_recalled_twice(scenario, session):
    first = scenario.open(lot_ids=[scenario.lot_a.id])
    with pytest.raises(DomainError) as caught:
        scenario.open(lot_ids=[scenario.lot_b.id, scenario.lot_a.id])
    assert caught.value.code == "lot_in_open_recall" and caught.value.details["case_id"] == first.id


def test_notifying_needs_a_method_and_records_who_and_when(scenario, session):
    case = scenario.open()
    safety = scenario.world.users["safety"]
    kwargs = dict(actor=safety, scope=EVERYWHERE, case_id=case.id, patient_id=scenario.alice.id, now=LATER)
    with pytest.raises(ValidationError) as caught:
        services.update_patient(session, status="notified", **kwargs)
    assert caught.value.details["field"] == "method"
    line = services.update_patient(session, status="notified", method="phone", note="left no message", **kwargs)
    assert (line.status, line.method, line.updated_by_id, line.updated_at, line.note) == (
        NotificationStatus.NOTIFIED, NotificationMethod.PHONE, safety.id, LATER, "left no message")
    line = services.update_patient(session, status="pending", method="email", **kwargs)
    assert (line.status, line.method) == (NotificationStatus.PENDING, None)
    line = services.update_patient(session, status="unreachable", note="3 calls, letter returned", **kwargs)
    assert line.status is NotificationStatus.UNREACHABLE
    with pytest.raises(ValidationError):
        services.update_patient(session, status="told", **kwargs)
    with pytest.raises(ValidationError):
        services.update_patient(session, status="notified", method="pigeon", **kwargs)


def test_a_patient_not_on_the_list_is_not_found(scenario, session):
    case = scenario.open()
    with pytest.raises(NotFound):
        services.update_patient(session, actor=scenario.world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                                patient_id=scenario.carol.id, status="notified", method="phone", now=LATER)


def test_a_clinic_level_safety_lead_works_only_their_clinics_lines(scenario, session):
    case = scenario.open()
    lon_lead = scenario.world.lon_safety_lead()
    lon = Scope.for_user(lon_lead)
    with pytest.raises(NotFound):
        services.update_patient(session, actor=lon_lead, scope=lon, case_id=case.id, patient_id=scenario.dan.id,
                                status="notified", method="phone", now=LATER)
    view = services.case_view(session, case.id, lon)
    assert {p.patient.id for p in view.patients} == {scenario.alice.id, scenario.bob.id}
    assert all(c.container.clinic.code == "LON" for c in view.containers)
    assert view.open_elsewhere == 2  # Dan, and New York's vial


def test_returned_and_destroyed_containers_leave_stock_through_the_ledger(scenario, session):
    case = scenario.open()
    safety = scenario.world.users["safety"]
    returned_id, destroyed_id = sorted(scenario.live)[:2]
    line = services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id,
                                     container_id=returned_id, status="returned", note="RMA 5521", now=LATER)
    assert (line.status, line.updated_by_id, line.updated_at) == (RecallContainerStatus.RETURNED, safety.id, LATER)
    services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id, container_id=destroyed_id,
                              status="destroyed", now=LATER)
    moves = {m.container_id: m for m in session.scalars(
        select(Movement).where(Movement.container_id.in_([returned_id, destroyed_id]), Movement.at == LATER))}
    assert (moves[returned_id].kind, moves[returned_id].reason) == (MovementKind.RETURN, "recall_returned")
    assert (moves[destroyed_id].kind, moves[destroyed_id].reason) == (MovementKind.WASTE, "recall_destroyed")
    for m in moves.values():
        assert m.balance_after == Decimal(0) and m.container.remaining == 0
    assert moves[destroyed_id].container.state is ContainerState.DISCARDED
    with pytest.raises(DomainError) as caught:
        services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id, container_id=returned_id,
                                  status="destroyed", now=LATER)
    assert caught.value.code == "recall_item_done"
    with pytest.raises(ValidationError):
        services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id,
                                  container_id=destroyed_id, status="open", now=LATER)


def test_closing_waits_for_both_lists_then_freezes_the_case(scenario, session):
    case = scenario.open()
    safety = scenario.world.users["safety"]
    with pytest.raises(RecallOpenItems) as caught:
        services.close_case(session, actor=safety, case_id=case.id, now=LATER)
    error = caught.value
    assert (error.code, error.status) == ("recall_open_items", 409)
    assert (error.details["patients_pending"], error.details["containers_open"]) == (3, 5)
    assert error.message == (f"Recall case {case.id} still has 3 patients to notify and 5 containers to return or "
                          "destroy: finish both lists first.")

    for n, line in enumerate(case.patients):
        services.update_patient(session, actor=safety, scope=EVERYWHERE, case_id=case.id, patient_id=line.patient_id,
                                status="unreachable" if n == 0 else "notified", method="letter", now=LATER)
    with pytest.raises(RecallOpenItems) as caught:
        services.close_case(session, actor=safety, case_id=case.id, now=LATER)
    assert (caught.value.details["patients_pending"], caught.value.details["containers_open"]) == (0, 5)
    # Only what is still open: no "0 patient(s) to notify".
    assert caught.value.message == (f"Recall case {case.id} still has 5 containers to return or destroy: finish that "
                                 "list first.")

    for line in case.containers:
        services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id,
                                  container_id=line.container_id, status="destroyed", now=LATER)
    closed = services.close_case(session, actor=safety, case_id=case.id, now=LATER)
    assert (closed.status, closed.closed_by_id, closed.closed_at) == (RecallStatus.CLOSED, safety.id, LATER)
    assert scenario.lot_a.status is LotStatus.RECALLED  # for good

    for change in (
        lambda: services.close_case(session, actor=safety, case_id=case.id, now=LATER),
        lambda: services.update_patient(session, actor=safety, scope=EVERYWHERE, case_id=case.id,
                                        patient_id=scenario.alice.id, status="pending", now=LATER),
    ):
        with pytest.raises(DomainError) as caught:
            change()
        assert caught.value.code == "recall_closed"
    # A closed case no longer blocks a new case on the same lot.
    again = scenario.open(lot_ids=[scenario.lot_a.id], now=LATER)
    assert again.lots[0].previous_status is LotStatus.RECALLED


def test_every_change_is_in_the_audit_trail(scenario, session):
    safety = scenario.world.users["safety"]
    case = scenario.open()
    services.update_patient(session, actor=safety, scope=EVERYWHERE, case_id=case.id, patient_id=scenario.bob.id,
                            status="notified", method="in_person", now=LATER)
    services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id,
                              container_id=min(scenario.live), status="returned", now=LATER)
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    trail = [(e.action, e.actor_id, e.at) for e in events if e.action.startswith(("lot.", "recall."))]
    assert trail == [
        ("lot.recalled", safety.id, NOW), ("lot.recalled", safety.id, NOW), ("recall.opened", safety.id, NOW),
        ("recall.patient_updated", safety.id, LATER), ("recall.container_updated", safety.id, LATER),
    ]
    opened = next(e for e in events if e.action == "recall.opened")
    assert opened.details["patients"] == 3 and opened.details["containers"] == 5
    assert opened.details["recall_class"] == "II" and opened.object_id == str(case.id)
    notified = next(e for e in events if e.action == "recall.patient_updated")
    assert notified.details["method"] == "in_person" and notified.details["to"] == "notified"
    assert notified.clinic_id == scenario.world.clinic.id


def test_the_dashboard_counts_progress_per_case_in_the_viewers_clinics(scenario, session):
    case = scenario.open(lot_ids=[scenario.lot_a.id])
    services.update_patient(session, actor=scenario.world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                            patient_id=scenario.alice.id, status="notified", method="email", now=LATER)
    (summary,) = services.list_cases(session, EVERYWHERE)
    assert (summary.patients.done, summary.patients.total) == (1, 2)
    assert (summary.containers.done, summary.containers.total) == (0, 3)
    lon = Scope(frozenset({scenario.world.clinic.id}))
    (mine,) = services.list_cases(session, lon)
    assert (mine.patients.done, mine.patients.total, mine.containers.total) == (1, 1, 2)


def test_a_case_view_gives_each_patient_the_doses_received(scenario, session):
    case = scenario.open()
    view = services.case_view(session, case.id, EVERYWHERE)
    doses = {p.patient.name: [(d.area, d.quantity) for d in p.doses] for p in view.patients}
    assert sorted(doses["Bob"]) == [("forehead", Decimal("2")), ("glabella", Decimal("4"))]
    assert (view.patient_progress.total, view.container_progress.total, view.open_elsewhere) == (3, 5, 0)


def test_the_list_shows_open_cases_first(scenario, session):
    safety = scenario.world.users["safety"]
    lot_c = scenario.world.container("botox", lot="RC3").lot
    empty = scenario.open(lot_ids=[lot_c.id])  # nobody received it, nothing left open once its vial is gone
    services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=empty.id,
                              container_id=empty.containers[0].container_id, status="returned", now=NOW)
    services.close_case(session, actor=safety, case_id=empty.id, now=NOW)
    later = scenario.open(now=LATER - dt.timedelta(hours=1))
    assert [s.case.id for s in services.list_cases(session, EVERYWHERE)] == [later.id, empty.id]
