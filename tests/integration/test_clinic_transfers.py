"""Transfers between clinics through the service: send, receive, call back; what may travel; who may act."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from inventory.models import AuditEvent, Container, ContainerState, Location, LocationKind, LotStatus, Movement, MovementKind, User
from inventory.transfers.models import Transfer, TransferItem, TransferStatus
from inventory import demo
from inventory.services import ledger
from inventory.transfers import service as clinic_transfers
from inventory.counts import service as counts
from inventory.transfers import moves as transfers
from inventory.services.permissions import Scope
from tests.kit_factories import restock
from tests.factories import (
    HASHER,
    NOW,
    World,
    draw,
    kit_location,
    make_clinic,
    patient,
    reconstitute,
    refusal,
    send_transfer,
    start_treatment,
    waste,
)

LATER = NOW + dt.timedelta(days=2)
TRANSFER_KINDS = (MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN)


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


# --- helpers ----------------------------------------------------------------------------------


def receive(world: World, transfer: Transfer, *, user: str | User = "manager", at: dt.datetime = LATER,
            location: Location | None = None) -> Transfer:
    actor = world.users[user] if isinstance(user, str) else user
    return clinic_transfers.receive(world.session, actor=actor, scope=Scope.for_user(actor), transfer_id=transfer.id,
                                    now=at, location_id=location.id if location else None)


def cancel(world: World, transfer: Transfer, *, user: str | User = "manager", at: dt.datetime = LATER) -> Transfer:
    actor = world.users[user] if isinstance(user, str) else user
    return clinic_transfers.cancel(world.session, actor=actor, scope=Scope.for_user(actor), transfer_id=transfer.id,
                                   now=at)


def vials(world: World, n: int = 2, product: str = "botox", **kwargs: Any) -> list[Container]:
    return world.receive(product, containers=n, **kwargs).containers


def history(world: World, container: Container) -> list[tuple[MovementKind, int, int, Decimal]]:
    movements = world.session.scalars(select(Movement).where(Movement.container_id == container.id).order_by(Movement.id))
    return [(m.kind, m.clinic_id, m.location_id, m.quantity) for m in movements]


def snapshot(world: World) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    session = world.session
    session.flush()
    states = session.execute(select(Container.id, Container.state, Container.remaining, Container.clinic_id,
                                    Container.location_id).order_by(Container.id)).all()
    counts = [session.scalar(select(func.count()).select_from(model)) for model in (Movement, Transfer, TransferItem)]
    return tuple(states), tuple(counts)


def transfer_sums(world: World) -> dict[tuple[str, MovementKind], Decimal]:
    rows = world.session.execute(
        select(Movement.clinic_id, Movement.kind, func.sum(Movement.quantity))
        .where(Movement.kind.in_(TRANSFER_KINDS)).group_by(Movement.clinic_id, Movement.kind)
    )
    codes = {world.clinic.id: "LON", world.other_clinic.id: "NYC"}
    return {(codes[clinic_id], kind): Decimal(total) for clinic_id, kind, total in rows}


def stock_on_hand(world: World, clinic) -> Decimal:
    return world.session.scalar(
        select(func.coalesce(func.sum(Container.remaining), 0)).where(Container.clinic_id == clinic.id)
    )


# --- sending -----------------------------------------------------------------------------------


def test_sending_takes_each_whole_container_out_of_the_source_and_puts_it_in_transit(world):
    sent = vials(world, 2)
    transfer = send_transfer(world, sent, note="courier DHL, box 1 of 1")

    assert transfer.status is TransferStatus.IN_TRANSIT
    assert (transfer.from_clinic_id, transfer.to_clinic_id) == (world.clinic.id, world.other_clinic.id)
    assert transfer.to_location_id == world.location("Fridge", world.other_clinic).id
    assert (transfer.sent_by_id, transfer.sent_at, transfer.note) == (world.users["manager"].id, NOW,
                                                                       "courier DHL, box 1 of 1")
    assert [(item.container_id, item.quantity) for item in transfer.items] == [(c.id, Decimal(100)) for c in sent]
    source = world.location("Fridge")
    for container, item in zip(sent, transfer.items, strict=True):
        # Still recorded at the source until it arrives, holding nothing, and unusable.
        assert (container.state, container.remaining) == (ContainerState.IN_TRANSIT, Decimal(0))
        assert (container.clinic_id, container.location_id) == (world.clinic.id, source.id)
        out = world.session.get(Movement, item.out_movement_id)
        assert (out.kind, out.clinic_id, out.location_id, out.quantity, out.balance_after, out.reason) == (
            MovementKind.TRANSFER_OUT, world.clinic.id, source.id, Decimal(-100), Decimal(0), "clinic_transfer")
        assert out.note == f"transfer {transfer.id} to NYC · Fridge"
        assert item.in_movement_id is None
    assert stock_on_hand(world, world.clinic) == 0


def test_receiving_moves_the_containers_to_the_destination_with_their_label_lot_and_history(world):
    sent = vials(world, 2)
    labels = [(c.id, c.label_code, c.lot_id) for c in sent]
    transfer = send_transfer(world, sent)
    received = receive(world, transfer)

    fridge = world.location("Fridge", world.other_clinic)
    assert received.status is TransferStatus.RECEIVED
    assert (received.received_by_id, received.received_at, received.received_location_id) == (
        world.users["manager"].id, LATER, fridge.id)
    assert [(c.id, c.label_code, c.lot_id) for c in sent] == labels
    for container, item in zip(sent, received.items, strict=True):
        assert (container.clinic_id, container.location_id) == (world.other_clinic.id, fridge.id)
        assert (container.state, container.remaining) == (ContainerState.SEALED, Decimal(100))
        assert history(world, container) == [
            (MovementKind.RECEIVE, world.clinic.id, world.location("Fridge").id, Decimal(100)),
            (MovementKind.TRANSFER_OUT, world.clinic.id, world.location("Fridge").id, Decimal(-100)),
            (MovementKind.TRANSFER_IN, world.other_clinic.id, fridge.id, Decimal(100)),
        ]
        assert world.session.get(Movement, item.in_movement_id).at == LATER


def test_both_clinics_balance_and_their_movement_sums_show_the_transfer_out_and_in(world):
    kept = vials(world, 1, lot="KEEP1")[0]
    transfer = send_transfer(world, vials(world, 3))
    assert transfer_sums(world) == {("LON", MovementKind.TRANSFER_OUT): Decimal(-300)}
    assert (stock_on_hand(world, world.clinic), stock_on_hand(world, world.other_clinic)) == (100, 0)

    receive(world, transfer)
    assert transfer_sums(world) == {
        ("LON", MovementKind.TRANSFER_OUT): Decimal(-300),
        ("NYC", MovementKind.TRANSFER_IN): Decimal(300),
    }
    assert (stock_on_hand(world, world.clinic), stock_on_hand(world, world.other_clinic)) == (100, 300)
    # Each clinic's own ledger adds up to what it holds.
    for clinic in (world.clinic, world.other_clinic):
        total = world.session.scalar(select(func.sum(Movement.quantity)).where(Movement.clinic_id == clinic.id))
        assert Decimal(total) == stock_on_hand(world, clinic)
    assert kept.state is ContainerState.SEALED
    assert ledger.find_balance_mismatches(world.session) == []


def test_the_receiver_may_put_the_stock_away_in_another_location_of_the_destination(world):
    transfer = send_transfer(world, vials(world, 1))
    room = Location(clinic_id=world.other_clinic.id, name="Second fridge", kind=LocationKind.FRIDGE,
                    temperature_sensitive=True)
    world.session.add(room)
    world.session.flush()
    received = receive(world, transfer, location=room)
    assert received.received_location_id == room.id
    assert received.to_location_id == world.location("Fridge", world.other_clinic).id  # the plan stays on record
    assert received.items[0].container.location_id == room.id


def test_calling_a_transfer_back_returns_everything_to_the_source_with_a_transfer_in_there(world):
    sent = vials(world, 2)
    transfer = send_transfer(world, sent)
    cancelled = cancel(world, transfer)

    assert cancelled.status is TransferStatus.CANCELLED
    assert (cancelled.cancelled_by_id, cancelled.cancelled_at) == (world.users["manager"].id, LATER)
    fridge = world.location("Fridge")
    for container in sent:
        assert (container.clinic_id, container.location_id, container.state, container.remaining) == (
            world.clinic.id, fridge.id, ContainerState.SEALED, Decimal(100))
        assert [kind for kind, clinic_id, *_ in history(world, container) if clinic_id == world.clinic.id] == [
            MovementKind.RECEIVE, MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN]
    assert transfer_sums(world) == {
        ("LON", MovementKind.TRANSFER_OUT): Decimal(-200), ("LON", MovementKind.TRANSFER_IN): Decimal(200)}
    # Back home, it can be used, or sent again.
    again = send_transfer(world, sent, at=LATER)
    assert again.status is TransferStatus.IN_TRANSIT


def test_a_transfer_is_received_once_and_never_called_back_after_or_received_after_cancelling(world):
    received = receive(world, send_transfer(world, vials(world, 1)))
    before = snapshot(world)
    assert refusal(lambda: receive(world, received)).code == "transfer_already_received"
    assert refusal(lambda: cancel(world, received)).code == "transfer_already_received"
    assert snapshot(world) == before

    cancelled = cancel(world, send_transfer(world, vials(world, 1, lot="SECOND")))
    before = snapshot(world)
    assert refusal(lambda: receive(world, cancelled)).code == "transfer_cancelled"
    assert refusal(lambda: cancel(world, cancelled)).code == "transfer_cancelled"
    assert snapshot(world) == before


# --- an in-transit container is unusable everywhere ---------------------------------------------------


def test_an_in_transit_container_cannot_be_drawn_mixed_wasted_moved_or_sent_again(world):
    filler, botox = vials(world, 1, "filler", lot="FILL1")[0], vials(world, 1)[0]
    send_transfer(world, [filler, botox])
    everywhere = Scope.everything()
    treatment = start_treatment(world, patient(world, "P-1", name="Alex Morgan"))
    before = snapshot(world)

    assert refusal(lambda: draw(world, treatment, filler, "0.1", "mL", area="lip")).code == "container_in_transit"
    assert refusal(lambda: reconstitute(world, botox)).code == "container_in_transit"
    assert refusal(lambda: waste(world, botox)).code == "container_in_transit"
    assert refusal(lambda: transfers.move_container(
        world.session, actor=world.users["manager"], scope=everywhere, container_id=botox.id,
        to_location_id=world.location("Cart").id, now=NOW, reason="restock")).code == "container_in_transit"
    assert refusal(lambda: send_transfer(world, [botox])).code == "container_in_transit"
    assert refusal(lambda: clinic_transfers.check_sendable(
        world.session, scope=everywhere, container_ref=botox.label_code, now=NOW)).code == "container_in_transit"
    # Nobody at the destination can reach it before it is received either.
    other_nurse = world.users["other_nurse"]
    assert refusal(lambda: ledger.lock_container(world.session, botox.id, Scope.for_user(other_nurse))).code == (
        "not_found")
    assert snapshot(world) == before


def test_an_in_transit_container_is_not_counted_at_the_source(world, session):
    (container,) = vials(world, 1)
    send_transfer(world, [container])
    before = snapshot(world)
    error = refusal(lambda: counts.create_submitted(
        session, actor=world.users["clinic_manager"], scope=Scope.everything(), location_id=world.location("Fridge").id,
        lines=[counts.LineSpec(code=container.label_code)], now=NOW))
    assert error.code == "container_in_transit"
    assert snapshot(world)[0] == before[0]  # no stock "found" in it


def test_the_database_refuses_stock_in_a_container_in_transit(world, session):
    (container,) = vials(world, 1)
    send_transfer(world, [container])
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            container.remaining = Decimal(100)  # e.g. a count "finding" it at the source
            session.flush()
    session.expire_all()
    assert session.get(Container, container.id).remaining == 0


# --- what may travel ------------------------------------------------------------------------------------


def _opened(world: World) -> Container:
    container = world.container("hylenex", lot="OPEN1")  # a liquid: part of it spilt opens it
    waste(world, container, quantity="10")
    return container


def _reconstituted(world: World) -> Container:
    return reconstitute(world, world.container("botox", lot="MIX1"))


def _patient_bound(world: World) -> Container:
    container = world.container("filler", lot="PAT1")
    draw(world, start_treatment(world, patient(world, "P-9", name="Sam Lee")), container, "0.1", "mL", area="lip")
    return container


def _empty(world: World) -> Container:
    container = world.container("botox", lot="EMPTY1")
    waste(world, container)
    return container


def _lot_status(status: LotStatus) -> Callable[[World], Container]:
    def make(world: World) -> Container:
        container = world.container("botox", lot=f"BAD-{status.value[:4]}")
        container.lot.status, container.lot.status_reason = status, "safety notice"
        return container

    return make


def _expired(world: World) -> Container:
    return world.container("botox", lot="OLD1", expiry=NOW.date() - dt.timedelta(days=1),
                           now=NOW - dt.timedelta(days=30))


def _in_a_kit(world: World) -> Container:
    return restock(world, kit_location(world), "hylenex", lot="KIT1")[0]


@pytest.mark.parametrize(("make", "code"), [
    (_opened, "container_opened"),
    (_reconstituted, "container_reconstituted"),
    (_patient_bound, "container_patient_bound"),
    (_empty, "container_empty"),
    (_expired, "lot_expired"),
    (_lot_status(LotStatus.QUARANTINED), "lot_quarantined"),
    (_lot_status(LotStatus.RECALLED), "lot_recalled"),
    (_in_a_kit, "container_in_kit"),
])
def test_only_sealed_full_containers_of_usable_lots_outside_kits_travel(world, make, code):
    good = world.container("botox")
    bad = make(world)
    before = snapshot(world)
    error = refusal(lambda: send_transfer(world, [good, bad]))
    assert error.code == code
    assert error.details["container_id"] == bad.id
    assert bad.label_code in error.message
    assert snapshot(world) == before  # the sealed one did not leave either
    assert good.state is ContainerState.SEALED


def test_refused_destinations_and_lists(world, session):
    good = world.container("botox")
    kit = Location(clinic_id=world.other_clinic.id, name="NYC kit", kind=LocationKind.KIT)
    closed = Location(clinic_id=world.other_clinic.id, name="Old fridge", kind=LocationKind.FRIDGE, is_active=False)
    session.add_all([kit, closed])
    session.flush()
    nyc_vial = world.container("botox", location=world.location("Fridge", world.other_clinic), lot="NYC1")
    before = snapshot(world)

    def code_of(containers: list[Container], to: Location | None = None, **kwargs: Any) -> str:
        return refusal(lambda: send_transfer(world, containers, to=to, **kwargs)).code

    assert code_of([good], world.location("Cart")) == "same_clinic"
    assert code_of([good], kit) == "location_is_kit"
    assert code_of([good], closed) == "location_inactive"
    assert code_of([good, nyc_vial], world.location("Fridge", world.other_clinic)) == "mixed_source_clinics"
    mixed = refusal(lambda: send_transfer(world, [good, nyc_vial]))
    assert mixed.message == (f"{nyc_vial.label_code} (Botox Cosmetic 100 U) is at NYC · Fridge, not at LON: a box "
                             "from LON takes LON's stock only.")
    assert mixed.details["container_ids"] == [nyc_vial.id] and mixed.details["from_clinic_id"] == world.clinic.id
    assert code_of([good, good]) == "validation_error"
    assert code_of([]) == "validation_error"
    assert code_of([good], note="x" * 2001) == "validation_error"
    # A clinic-level manager cannot send another clinic's stock: it does not exist for them.
    assert code_of([nyc_vial], world.location("Fridge"), user="clinic_manager") == "not_found"
    assert refusal(lambda: clinic_transfers.send(
        session, actor=world.users["manager"], scope=Scope.everything(), container_ids=[good.id],
        to_location_id=2**31, now=NOW)).code == "not_found"
    assert snapshot(world) == before


# --- who may act -------------------------------------------------------------------------------------------


def test_a_clinic_manager_sends_to_a_clinic_they_do_not_work_at_and_only_that_clinic_receives(world):
    transfer = send_transfer(world, vials(world, 1), user="clinic_manager")
    assert transfer.sent_by_id == world.users["clinic_manager"].id
    before = snapshot(world)
    error = refusal(lambda: receive(world, transfer, user="clinic_manager"))
    assert (error.code, error.status) == ("receiving_clinic_only", 403)
    assert snapshot(world) == before
    # The receiving manager cannot call it back: only the sender's clinic can.
    nyc = world.nyc_manager()
    before = snapshot(world)
    assert refusal(lambda: cancel(world, transfer, user=nyc)).code == "sending_clinic_only"
    assert snapshot(world) == before
    # Nor choose a place outside their clinic.
    assert refusal(lambda: receive(world, transfer, user=nyc, location=world.location("Room 1"))).code == "location_other_clinic"
    assert receive(world, transfer, user=nyc).received_by_id == nyc.id


def test_the_sending_clinic_manager_may_call_a_transfer_back(world):
    transfer = send_transfer(world, vials(world, 1), user="clinic_manager")
    assert cancel(world, transfer, user="clinic_manager").status is TransferStatus.CANCELLED


def test_a_transfer_between_two_other_clinics_does_not_exist_for_a_clinic_manager(world, session):
    paris = make_clinic(session, "PAR", "Europe/Paris")
    nyc_vial = world.container("botox", location=world.location("Fridge", world.other_clinic), lot="NYC1")
    transfer = send_transfer(world, [nyc_vial], to=next(loc for loc in paris.locations if loc.name == "Fridge"))
    lon_manager = world.users["clinic_manager"]
    scope = Scope.for_user(lon_manager)
    before = snapshot(world)
    for call in (
        lambda: clinic_transfers.get_transfer(session, transfer.id, scope),
        lambda: receive(world, transfer, user=lon_manager),
        lambda: cancel(world, transfer, user=lon_manager),
    ):
        assert refusal(call).code == "not_found"
    assert snapshot(world) == before
    assert clinic_transfers.list_transfers(session, scope=scope).transfers == []
    assert clinic_transfers.list_transfers(session, scope=Scope.everything()).transfers == [transfer]


def test_lists_by_direction_in_transit_first(world, session):
    nyc = world.nyc_manager()
    out_old = send_transfer(world, vials(world, 1, lot="A1"), user="clinic_manager", at=NOW - dt.timedelta(days=3))
    receive(world, out_old, user=nyc, at=NOW - dt.timedelta(days=2))
    out_new = send_transfer(world, vials(world, 1, lot="A2"), user="clinic_manager", at=NOW - dt.timedelta(days=5))
    nyc_vial = world.container("botox", location=world.location("Fridge", world.other_clinic), lot="B1")
    incoming = send_transfer(world, [nyc_vial], user=nyc, to=world.location("Fridge"))

    lon = Scope.for_user(world.users["clinic_manager"])
    assert clinic_transfers.list_transfers(session, scope=lon, direction="outgoing").transfers == [out_new, out_old]
    assert clinic_transfers.list_transfers(session, scope=lon, direction="incoming").transfers == [incoming]
    assert clinic_transfers.list_transfers(session, scope=lon).transfers == [incoming, out_new, out_old]
    assert clinic_transfers.list_transfers(session, scope=lon, status=TransferStatus.RECEIVED).transfers == [out_old]


def test_settled_transfers_page_back_and_those_on_the_road_are_never_paged_away(world, session):
    nyc = world.nyc_manager()
    settled = []
    for i in range(5):
        sent = send_transfer(world, vials(world, 1, lot=f"P{i}"), user="clinic_manager",
                             at=NOW - dt.timedelta(days=10 - i))
        settled.append(receive(world, sent, user=nyc, at=NOW - dt.timedelta(days=9 - i)))
    road_old = send_transfer(world, vials(world, 1, lot="R1"), user="clinic_manager", at=NOW - dt.timedelta(days=20))
    road_new = send_transfer(world, vials(world, 1, lot="R2"), user="clinic_manager", at=NOW - dt.timedelta(days=1))
    lon = Scope.for_user(world.users["clinic_manager"])
    newest_first = list(reversed(settled))

    first = clinic_transfers.list_transfers(session, scope=lon, limit=2)
    assert first.transfers == [road_new, road_old, *newest_first[:2]]
    assert first.next_before == newest_first[1].id
    second = clinic_transfers.list_transfers(session, scope=lon, limit=2, before_id=first.next_before)
    assert second.transfers == newest_first[2:4]
    last = clinic_transfers.list_transfers(session, scope=lon, limit=2, before_id=second.next_before)
    assert (last.transfers, last.next_before) == (newest_first[4:], None)
    # Exactly a page left: no further page is promised.
    assert clinic_transfers.list_transfers(session, scope=lon, limit=5).next_before is None
    in_transit = clinic_transfers.list_transfers(session, scope=lon, status=TransferStatus.IN_TRANSIT, limit=1)
    assert (in_transit.transfers, in_transit.next_before) == ([road_new, road_old], None)


def test_destinations_are_every_clinics_receiving_locations_never_a_kit(world, session):
    session.add(Location(clinic_id=world.other_clinic.id, name="NYC kit", kind=LocationKind.KIT))
    session.flush()
    names = [(loc.clinic.code, loc.name) for loc in clinic_transfers.destinations(session)]
    assert names == [("LON", "Fridge"), ("LON", "Room 1"), ("LON", "Cart"),
                     ("NYC", "Fridge"), ("NYC", "Room 1"), ("NYC", "Cart")]
    assert [(loc.clinic.code, loc.name) for loc in
            clinic_transfers.destinations(session, exclude_clinic_id=world.clinic.id)] == names[3:]


# --- lots are chain-wide ---------------------------------------------------------------------------------------


def test_a_lot_quarantined_on_the_road_is_received_but_stays_unusable(world):
    (container,) = vials(world, 1, "filler", lot="Q1")
    transfer = send_transfer(world, [container])
    container.lot.status, container.lot.status_reason = LotStatus.QUARANTINED, "supplier notice"
    received = receive(world, transfer)
    assert received.status is TransferStatus.RECEIVED
    assert (container.clinic_id, container.state, container.remaining) == (
        world.other_clinic.id, ContainerState.SEALED, Decimal("0.55"))

    nurse = world.users["other_nurse"]
    treatment = start_treatment(world, patient(world, "NY-1", clinic=world.other_clinic, name="Jo Park"), user=nurse,
                                at=LATER)
    assert refusal(lambda: draw(world, treatment, container, "0.1", "mL", area="lip", user=nurse, at=LATER)).code == (
        "lot_quarantined")
    # Released, the same syringe serves the New York patient.
    container.lot.status = LotStatus.ACTIVE
    result = draw(world, treatment, container, "0.1", "mL", area="lip", user=nurse, at=LATER)
    assert result.draw.quantity == Decimal("0.1")


# --- the demo -------------------------------------------------------------------------------------------------


def test_the_demo_has_one_transfer_on_the_road_from_london_to_new_york_and_loads_twice(session):
    demo.load(session, HASHER, now=NOW)
    (transfer,) = session.scalars(select(Transfer)).all()
    assert (transfer.status, transfer.from_clinic.code, transfer.to_clinic.code, transfer.to_location.name) == (
        TransferStatus.IN_TRANSIT, "LON", "NYC", "Store room")
    assert [(item.container.product.name, item.container.state) for item in transfer.items] == [
        ("Xeomin 100 U", ContainerState.IN_TRANSIT)] * 2
    movements = session.scalar(select(func.count()).select_from(Movement))
    demo.load(session, HASHER, now=NOW)
    assert session.scalar(select(func.count()).select_from(Transfer)) == 1
    assert session.scalar(select(func.count()).select_from(Movement)) == movements


def test_a_box_kept_at_2_to_8_is_received_into_a_fridge_or_the_receiver_confirms_the_place(world, session):
    """As at receiving (test_receiving_kept_cold.py): stock arriving from another clinic enters a place where an
    excursion would hold it, or the receiving manager says it may be kept where it is."""
    vial = world.container("botox")
    filler = world.container("filler")
    transfer = send_transfer(world, [vial, filler])
    room = world.location("Room 1", world.other_clinic)
    error = refusal(lambda: receive(world, transfer, location=room))
    assert error.code == "location_not_refrigerated"
    assert error.details == {"product_id": world.botox.id, "location_id": room.id}
    assert transfer.status is TransferStatus.IN_TRANSIT and vial.state is ContainerState.IN_TRANSIT
    actor = world.users["manager"]
    received = clinic_transfers.receive(world.session, actor=actor, scope=Scope.for_user(actor),
                                        transfer_id=transfer.id, now=LATER, location_id=room.id,
                                        confirm=("location_not_refrigerated",))
    assert received.status is TransferStatus.RECEIVED and {vial.location_id, filler.location_id} == {room.id}
    kept = world.session.scalars(select(AuditEvent).where(AuditEvent.action == "stock.kept_outside_fridge")).all()
    assert [(e.object_type, e.object_id, e.details["product_id"]) for e in kept] == [
        ("transfer", str(transfer.id), world.botox.id)]  # the filler needed no confirmation
