"""Nothing slips past a recall: every path that puts stock of a lot back on a shelf joins the lot's open case,
and a case refuses to close while any of its containers is back in stock (DOMAIN.md "Lots, expiry and recalls")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.errors import LotRecalled, NotReversible, RecallOpenItems
from inventory.models import AuditEvent, ContainerState, Movement
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from recall import services
from recall.models import RecallCase, RecallContainer, RecallContainerStatus
from tests import factories, recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

LATER = NOW + dt.timedelta(hours=1)
HOUR = dt.timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def open_case(world: World, lot_id: int, recall_class: str = "II") -> RecallCase:
    return services.open_recall(world.session, actor=world.users["safety"], lot_ids=[lot_id], reason="Notice 19",
                                recall_class=recall_class, source="manufacturer", now=NOW)


def lines(world: World, case: RecallCase) -> dict[int, RecallContainer]:
    world.session.flush()
    return {line.container_id: line for line in world.session.scalars(
        select(RecallContainer).where(RecallContainer.case_id == case.id)
        .execution_options(populate_existing=True))}


def finish_patients(world: World, case: RecallCase) -> None:
    for line in case.patients:
        services.update_patient(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                                patient_id=line.patient_id, status="notified", method="phone", now=LATER)


def settle_containers(world: World, case: RecallCase) -> None:
    for container_id, line in lines(world, case).items():
        if line.status is RecallContainerStatus.OPEN:
            services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE,
                                      case_id=case.id, container_id=container_id, status="returned", now=LATER)


def close(world: World, case: RecallCase) -> RecallCase:
    return services.close_case(world.session, actor=world.users["safety"], case_id=case.id, now=LATER + HOUR)


def test_a_reversed_waste_after_the_recall_joins_the_case_and_holds_it_open(world):
    kept, dropped = world.receive("botox", lot="RX1", containers=2).containers
    waste = factories.waste(world, dropped, "dropped", user="safety")
    case = open_case(world, kept.lot_id)
    assert set(lines(world, case)) == {kept.id}  # the dropped vial held nothing when the recall opened

    factories.reverse(world, waste, "it was not dropped after all", user="safety", at=LATER)

    joined = lines(world, case)
    assert set(joined) == {kept.id, dropped.id}
    assert joined[dropped.id].status is RecallContainerStatus.OPEN
    assert joined[dropped.id].clinic_id == dropped.clinic_id
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.container_joined"))
    assert event.details["container_id"] == dropped.id
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                              container_id=kept.id, status="destroyed", now=LATER)
    with pytest.raises(RecallOpenItems) as caught:
        close(world, case)
    assert caught.value.details["containers_open"] == 1
    settle_containers(world, case)
    assert close(world, case).status.value == "closed"


def test_a_reversed_draw_after_the_recall_puts_its_vial_back_on_the_list(world):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="RX2"))
    draw = rh.give(world, rh.treat(world, patient(world, "P-1")), vial, "100", area="masseter_left")
    assert vial.remaining == 0
    case = open_case(world, vial.lot_id)
    assert lines(world, case) == {}

    rh.reverse(world, draw, at=LATER)

    assert lines(world, case)[vial.id].status is RecallContainerStatus.OPEN


def test_a_dose_reversed_after_its_vial_was_returned_for_the_recall_is_returned_with_it(world):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="RX3"))
    draw = rh.give(world, rh.treat(world, patient(world, "P-1")), vial, "10")
    case = open_case(world, vial.lot_id)
    # The vial is sent back with what is left; then the mistaken draw is corrected: the 10 U were in the vial
    # when it went back, so they went back with it (no shelf holds them), and the line stays returned.
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                              container_id=vial.id, status="returned", now=LATER)
    rh.reverse(world, draw, at=LATER + HOUR)

    assert (vial.remaining, vial.state) == (0, ContainerState.EMPTY)
    assert lines(world, case)[vial.id].status is RecallContainerStatus.RETURNED


def test_a_recall_destroyed_waste_is_never_reversed(world):
    vial = world.container("botox", lot="RX4")
    case = open_case(world, vial.lot_id)
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                              container_id=vial.id, status="destroyed", now=LATER)
    destroyed = world.session.scalar(select(Movement).where(
        Movement.container_id == vial.id, Movement.reason == "recall_destroyed"))

    error = factories.refusal(lambda: factories.reverse(world, destroyed, user="safety"))

    assert isinstance(error, NotReversible)


def test_a_count_that_finds_stock_of_a_recalled_lot_joins_the_case(world):
    full, lost = world.receive("botox", lot="RX5", containers=2).containers
    factories.waste(world, lost, "dropped", user="manager")
    case = open_case(world, full.lot_id)
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    count = counts.start_count(world.session, actor=counter, scope=Scope.for_user(counter),
                               location_id=world.location().id, now=NOW)
    counts.add_line(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(container=lost.label_code, counted=Decimal(100)), now=LATER)
    counts.submit(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=LATER)

    counts.post(world.session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id, now=LATER + HOUR)

    assert lost.remaining == 100
    assert set(lines(world, case)) == {full.id, lost.id}


def test_a_transfer_received_after_the_recall_moves_its_line_to_the_receiving_clinic(world):
    vial = world.container("botox", lot="RX6")
    transfer = factories.send_transfer(world, [vial])
    case = open_case(world, vial.lot_id)
    assert lines(world, case)[vial.id].clinic_id == world.clinic.id  # on the road, still London's to chase

    nyc = world.nyc_manager()
    clinic_transfers.receive(world.session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id,
                             now=LATER)

    line = lines(world, case)[vial.id]
    assert (line.clinic_id, line.status) == (world.other_clinic.id, RecallContainerStatus.OPEN)
    assert vial.state is ContainerState.SEALED


def test_a_receipt_of_a_recalled_lot_is_refused(world):
    vial = world.container("botox", lot="RX7")
    open_case(world, vial.lot_id)

    error = factories.refusal(lambda: world.receive("botox", lot="RX7"))

    assert isinstance(error, LotRecalled)


def test_a_case_refuses_to_close_while_a_container_of_its_lot_is_in_stock_without_a_line(world):
    vial = world.container("botox", lot="RX8")
    case = open_case(world, vial.lot_id)
    finish_patients(world, case)
    # A line removed behind the services' back: the case still sees the stock on the shelf.
    world.session.delete(lines(world, case)[vial.id])
    world.session.flush()

    with pytest.raises(RecallOpenItems) as caught:
        close(world, case)

    assert caught.value.details["containers_back_in_stock"] == 1
    assert "back in stock" in caught.value.message
