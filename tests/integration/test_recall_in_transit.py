"""A container on its way between clinics is shown on the road, not on the source clinic's shelf: in the
lot trace, a recall case's container list and the container export, in a fixed number
of statements however many containers travel."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest

from inventory.models import ContainerState
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from recall import exports, queries, services
from tests import factories
from tests.factories import EVERYWHERE, NOW
from tests.statements import recorded

LATER = NOW + dt.timedelta(hours=2)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@contextlib.contextmanager
def count_statements(session) -> Iterator[list[str]]:
    statements: list[str] = []
    with recorded(session) as sent:
        yield statements
    statements.extend(statement for statement, _ in sent)


def trace_of(session, lot_id: int, scope: Scope = EVERYWHERE) -> queries.LotTrace:
    (trace,) = queries.lot_traces(session, queries.lots_by_ids(session, [lot_id]), scope)
    return trace


def open_case(world, lot_id: int, *, now: dt.datetime = LATER):
    return services.open_recall(world.session, actor=world.users["safety"], lot_ids=[lot_id],
                                reason="counterfeit alert", recall_class="I", source="regulator", now=now)


def test_a_trace_shows_a_vial_on_the_road_with_its_transfer(world, session):
    on_shelf, on_road = world.receive("botox", lot="ROAD1", containers=2).containers
    transfer = factories.send_transfer(world, [on_road])
    session.flush()

    lines = {line.id: line for line in trace_of(session, on_road.lot_id).containers}

    road = lines[on_road.id]
    assert road.is_in_transit and road.transit is not None
    assert (road.transit.transfer_id, road.transit.from_clinic.code, road.transit.to_clinic.code) == (
        transfer.id, "LON", "NYC")
    assert road.transit.sent_at == NOW and road.transit.to_location == "Fridge"
    assert road.transit.quantity == on_road.initial_quantity  # what travels, though the ledger holds 0 here
    assert road.transit.sent_local_at.utcoffset() == dt.timedelta(hours=1)  # June in London, the sender's zone
    # The stored facts stay as they are: the source clinic's row until it arrives.
    assert (road.clinic.code, road.location_id, road.remaining) == ("LON", on_road.location_id, 0)
    assert not lines[on_shelf.id].is_in_transit and lines[on_shelf.id].transit is None


def test_a_received_or_called_back_transfer_is_no_longer_on_the_road(world, session):
    received, called_back = world.receive("botox", lot="ROAD2", containers=2).containers
    first = factories.send_transfer(world, [received])
    second = factories.send_transfer(world, [called_back])
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=first.id, now=LATER)
    manager = world.users["manager"]
    clinic_transfers.cancel(session, actor=manager, scope=Scope.for_user(manager), transfer_id=second.id, now=LATER)

    lines = {line.id: line for line in trace_of(session, received.lot_id).containers}

    assert lines[received.id].transit is None and lines[received.id].clinic.code == "NYC"
    assert lines[called_back.id].transit is None and lines[called_back.id].clinic.code == "LON"


def test_the_number_of_statements_does_not_grow_with_the_containers_on_the_road(world, session):
    one = world.receive("botox", lot="ROAD3", containers=1).containers
    many = world.receive("botox", lot="ROAD4", containers=6).containers
    still = world.receive("botox", lot="ROAD5", containers=2).containers
    factories.send_transfer(world, one)
    factories.send_transfer(world, many[:3])
    factories.send_transfer(world, many[3:], to=world.location("Room 1", world.other_clinic))
    session.flush()

    def statements(lot_id: int) -> int:
        session.expire_all()
        with count_statements(session) as sent:
            trace = trace_of(session, lot_id)
            assert all(line.transit is not None for line in trace.containers if line.state is ContainerState.IN_TRANSIT)
        return len(sent)

    on_the_road = statements(many[0].lot_id)
    assert statements(one[0].lot_id) == on_the_road
    assert statements(still[0].lot_id) == on_the_road - 1  # nothing travels: not even the one statement


def test_a_recall_case_lists_the_vial_on_the_road(world, session):
    vial = world.container("botox", lot="ROAD6")
    transfer = factories.send_transfer(world, [vial])
    case = open_case(world, vial.lot_id)

    view = services.case_view(session, case.id, EVERYWHERE)

    (item,) = view.containers
    assert item.container.transit is not None and item.container.transit.transfer_id == transfer.id
    assert item.container.transit.to_clinic.code == "NYC"


@pytest.mark.parametrize("status", ["returned", "destroyed"])
def test_a_vial_on_the_road_is_not_marked_returned_or_destroyed_until_it_arrives(world, session, status):
    """QA: "destroyed" was accepted for a vial in transit, wrote nothing (it held 0), and the box then arrived as
    stock while the case said it was gone. It is settled where it arrives, or back at the sender."""
    vial = world.container("botox", lot="ROAD7")
    transfer = factories.send_transfer(world, [vial])
    case = open_case(world, vial.lot_id)
    error = factories.refusal(lambda: services.update_container(
        session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id, container_id=vial.id,
        status=status, now=LATER))
    assert error.code == "container_in_transit" and error.details == {"container_id": vial.id}
    (item,) = services.case_view(session, case.id, EVERYWHERE).containers
    assert item.line.status.value == "open"
    manager = world.users["manager"]
    clinic_transfers.receive(session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer.id,
                             now=LATER)
    done = services.update_container(session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                                     container_id=vial.id, status=status, now=LATER)
    assert done.status.value == status and vial.remaining == 0 and vial.state is not ContainerState.IN_TRANSIT


def test_the_container_export_says_the_vial_is_on_the_road(world, session):
    vial, kept = world.receive("botox", lot="ROAD7", containers=2).containers
    transfer = factories.send_transfer(world, [vial])
    case = open_case(world, vial.lot_id)

    sheet = exports.container_sheet(services.case_view(session, case.id, EVERYWHERE))

    where = {row[2]: row[1] for row in sheet.rows}
    assert where[vial.label_code] == f"in transit LON → NYC, transfer #{transfer.id}, sent 15 Jun 2026 10:30"
    assert where[kept.label_code] == "Fridge"



def test_a_consignment_refused_and_on_its_way_back_says_so(world, session):
    refuse = getattr(clinic_transfers, "refuse", None)
    if refuse is None:  # pragma: no cover - transfers that can be refused came with migration 0018
        pytest.skip("this version cannot refuse a transfer")
    vial = world.container("botox", lot="ROAD10")
    transfer = factories.send_transfer(world, [vial])
    nyc = world.nyc_manager()
    refuse(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=LATER, reason="box crushed")

    (line,) = trace_of(session, vial.lot_id).containers

    assert line.transit is not None and line.transit.is_going_back
    assert line.transit.words == f"in transit back NYC → LON (refused), transfer #{transfer.id}, sent 15 Jun 2026 10:30"
