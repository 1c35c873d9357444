"""Stock found in a recalled lot after its recall cases closed (DOMAIN.md "Lots, expiry and recalls": stock never
slips past a recall). The count still posts (it records what is on the shelf), the lot keeps the stock out of use,
and the closed case's record stays as it was; the safety lead is told (``recall.stock_after_close``, and the stock
no open case covers) and opens a new case on the lot, which lists it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.counts import service as counts
from inventory.counts.models import CountStatus
from inventory.counts.service import LineSpec
from inventory.errors import LotRecalled
from inventory.models import AuditEvent, Container, ContainerState
from inventory.services.permissions import Scope
from recall import services
from recall.models import RecallCase, RecallContainer, RecallContainerStatus, RecallStatus
from tests import factories
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

HOUR = dt.timedelta(hours=1)
LATER = NOW + HOUR

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def open_case(world: World, lot_id: int, reason: str = "Notice 19") -> RecallCase:
    return services.open_recall(world.session, actor=world.users["safety"], lot_ids=[lot_id], reason=reason,
                                recall_class="II", source="manufacturer", now=NOW)


def mark(world: World, case: RecallCase, container: Container, status: str = "returned") -> None:
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                              container_id=container.id, status=status, now=LATER)


def close(world: World, case: RecallCase) -> RecallCase:
    return services.close_case(world.session, actor=world.users["safety"], case_id=case.id, now=LATER)


def count_finds(world: World, container: Container, counted: str = "100") -> counts.Count:
    """A London manager counts the container; another manager posts the count the next day."""
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    at = NOW + dt.timedelta(days=1)
    count = counts.start_count(world.session, actor=counter, scope=Scope.for_user(counter),
                               location_id=world.location().id, now=at)
    counts.add_line(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(container=container.label_code, counted=Decimal(counted)), now=at)
    counts.submit(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=at)
    return counts.post(world.session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id,
                       now=at + HOUR)


def lines(world: World, case: RecallCase) -> dict[int, RecallContainer]:
    world.session.flush()
    return {line.container_id: line for line in world.session.scalars(
        select(RecallContainer).where(RecallContainer.case_id == case.id).execution_options(populate_existing=True))}


def found_after_close(world: World) -> tuple[Container, Container, RecallCase]:
    """Two Botox vials of lot SC1: one recorded as dropped, the other returned for the recall; the case closed."""
    kept, lost = world.receive("botox", lot="SC1", containers=2).containers
    factories.waste(world, lost, "dropped", user="manager")
    case = open_case(world, kept.lot_id)
    assert set(lines(world, case)) == {kept.id}  # the dropped vial held nothing when the recall opened
    mark(world, case, kept)
    close(world, case)
    return kept, lost, case


def test_a_count_that_finds_stock_of_a_recalled_lot_after_its_case_closed_posts_and_the_stock_stays_unusable(world):
    kept, lost, case = found_after_close(world)

    count = count_finds(world, lost)

    assert count.status is CountStatus.POSTED
    assert (lost.remaining, lost.state) == (100, ContainerState.SEALED)  # the ledger says what is on the shelf
    error = factories.refusal(lambda: reconstitute(world, lost))
    assert isinstance(error, LotRecalled)
    treatment = factories.start_treatment(world, patient(world, "P-9"))
    assert isinstance(factories.refusal(lambda: factories.draw(world, treatment, lost, "4")), LotRecalled)
    # The closed case's record is final: nothing joins it, and it stays closed.
    assert set(lines(world, case)) == {kept.id}
    world.session.refresh(case)
    assert case.status is RecallStatus.CLOSED


def test_the_found_stock_is_recorded_for_the_safety_lead(world):
    kept, lost, case = found_after_close(world)

    count_finds(world, lost)

    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.stock_after_close"))
    assert event is not None and "recall.stock_after_close" in services.CHANGE_ACTIONS
    assert (event.object_type, event.object_id, event.clinic_id) == ("lot", str(lost.lot_id), lost.clinic_id)
    assert event.actor_id == world.users["manager"].id  # who posted the count
    assert event.details == {"container_id": lost.id, "label_code": lost.label_code, "lot_id": lost.lot_id,
                             "lot_ids": [lost.lot_id], "case_ids": [case.id], "remaining": "100"}
    assert not world.session.scalars(select(AuditEvent).where(AuditEvent.action == "recall.container_joined")).all()


def test_the_safety_lead_sees_recalled_stock_that_no_open_case_covers(world):
    kept, lost, case = found_after_close(world)
    assert services.uncovered_stock(world.session, EVERYWHERE) == []

    count_finds(world, lost)

    (uncovered,) = services.uncovered_stock(world.session, EVERYWHERE)
    assert uncovered.lot.id == lost.lot_id and [c.id for c in uncovered.containers] == [lost.id]
    assert [c.id for c in uncovered.cases] == [case.id] and uncovered.containers[0].remaining == 100
    view = services.case_view(world.session, case.id, EVERYWHERE)
    assert [[c.id for c in u.containers] for u in view.uncovered] == [[lost.id]]
    # Someone who works only in New York does not see a London shelf.
    assert services.uncovered_stock(world.session, Scope.for_user(world.nyc_manager())) == []


def test_a_new_case_on_the_lot_takes_the_found_stock_back(world):
    kept, lost, case = found_after_close(world)
    count_finds(world, lost)

    later = open_case(world, lost.lot_id, reason="found in the fridge at the count after case closed")

    assert later.id != case.id and later.is_open
    assert set(lines(world, later)) == {lost.id}  # what is in stock now; the returned vial has left
    assert lines(world, later)[lost.id].status is RecallContainerStatus.OPEN
    assert services.uncovered_stock(world.session, EVERYWHERE) == []
    assert services.case_view(world.session, case.id, EVERYWHERE).uncovered == []
    mark(world, later, lost, "destroyed")
    assert (lost.remaining, close(world, later).status) == (0, RecallStatus.CLOSED)
    assert lines(world, case)[kept.id].status is RecallContainerStatus.RETURNED  # the first case as it was


def test_a_container_a_closed_case_marked_returned_and_found_again_is_told_and_taken_by_a_new_case(world):
    kept, lost, case = found_after_close(world)

    count_finds(world, kept)  # the courier never took it

    assert kept.remaining == 100
    assert lines(world, case)[kept.id].status is RecallContainerStatus.RETURNED  # the closed record stands
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.stock_after_close"))
    assert event.details["container_id"] == kept.id
    (uncovered,) = services.uncovered_stock(world.session, EVERYWHERE)
    assert [c.id for c in uncovered.containers] == [kept.id]
    later = open_case(world, kept.lot_id, reason="the returned vial is still here")
    assert set(lines(world, later)) == {kept.id}


def test_stock_of_a_lot_with_an_open_case_joins_it_and_is_not_told_as_uncovered(world):
    kept, lost = world.receive("botox", lot="SC2", containers=2).containers
    factories.waste(world, lost, "dropped", user="manager")
    case = open_case(world, kept.lot_id)

    count_finds(world, lost)

    assert set(lines(world, case)) == {kept.id, lost.id}
    assert services.uncovered_stock(world.session, EVERYWHERE) == []
    assert not world.session.scalars(select(AuditEvent).where(AuditEvent.action == "recall.stock_after_close")).all()


def test_stock_found_in_an_active_lot_is_nothing_for_the_safety_lead(world):
    lost = world.container("botox", lot="SC3")
    factories.waste(world, lost, "dropped", user="manager")

    count_finds(world, lost)

    assert lost.remaining == 100
    assert not world.session.scalars(select(AuditEvent).where(AuditEvent.action.like("recall.%"))).all()
    assert services.uncovered_stock(world.session, EVERYWHERE) == []
