"""The receiving clinic refuses a transfer through the service; the sender records the goods back.

Refused, the containers stay in transit (in no clinic's stock) until the source records their return, which
ends the transfer ``returned``; a consignment refused for its temperature comes back on hold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from inventory.cold_chain import service as cold_chain
from inventory.models import AuditEvent, Container, ContainerState, Movement, MovementKind, Role, User
from inventory.services import ledger
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import RefusalCategory, Transfer, TransferItem, TransferStatus
from inventory.transfers.schemas import Category, Status
from tests.factories import (
    NOW,
    World,
    draw,
    make_clinic,
    make_user,
    patient,
    reconstitute,
    refusal,
    reverse,
    send_transfer,
    start_treatment,
    waste,
)

REFUSED_AT = NOW + dt.timedelta(days=1)
BACK_AT = NOW + dt.timedelta(days=2)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def refuse(world: World, transfer: Transfer, *, user: str | User = "nyc", reason: str | None = "box crushed",
           category: RefusalCategory = RefusalCategory.DAMAGED, at: dt.datetime = REFUSED_AT) -> Transfer:
    actor = _user(world, user)
    return clinic_transfers.refuse(world.session, actor=actor, scope=Scope.for_user(actor), transfer_id=transfer.id,
                                   now=at, reason=reason, category=category)


def bring_back(world: World, transfer: Transfer, *, user: str | User = "clinic_manager",
               at: dt.datetime = BACK_AT) -> Transfer:
    actor = _user(world, user)
    return clinic_transfers.cancel(world.session, actor=actor, scope=Scope.for_user(actor), transfer_id=transfer.id,
                                   now=at)


def receive(world: World, transfer: Transfer, *, user: str | User = "nyc") -> Transfer:
    actor = _user(world, user)
    return clinic_transfers.receive(world.session, actor=actor, scope=Scope.for_user(actor), transfer_id=transfer.id,
                                    now=REFUSED_AT)


def _user(world: World, user: str | User) -> User:
    if user == "nyc":
        return world.nyc_manager()
    return world.users[user] if isinstance(user, str) else user


def sent_from_london(world: World, n: int = 2, product: str = "botox", **kwargs: Any) -> Transfer:
    containers = world.receive(product, containers=n, **kwargs).containers
    return send_transfer(world, containers, user="clinic_manager")


def snapshot(world: World) -> tuple[Any, ...]:
    session = world.session
    session.flush()
    states = session.execute(select(Container.id, Container.state, Container.remaining, Container.clinic_id,
                                    Container.location_id, Container.on_hold_since).order_by(Container.id)).all()
    transfers = session.execute(select(Transfer.id, Transfer.status, Transfer.refused_at).order_by(Transfer.id)).all()
    counts = [session.scalar(select(func.count()).select_from(model)) for model in (Movement, AuditEvent, TransferItem)]
    return tuple(states), tuple(transfers), tuple(counts)


def stock_on_hand(world: World, clinic) -> Decimal:
    return world.session.scalar(
        select(func.coalesce(func.sum(Container.remaining), 0)).where(Container.clinic_id == clinic.id))


def audit(world: World, action: str) -> list[AuditEvent]:
    world.session.flush()
    return list(world.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- refusing ------------------------------------------------------------------------------------------------


def test_refusing_writes_no_movement_and_leaves_the_containers_in_transit_in_no_clinics_stock(world):
    transfer = sent_from_london(world)
    movements = world.session.scalar(select(func.count()).select_from(Movement))
    nyc = world.nyc_manager()

    refused = refuse(world, transfer, reason="  two vials cracked, box crushed  ")

    assert refused.status is TransferStatus.REFUSED
    assert (refused.refused_by_id, refused.refused_at, refused.refusal_category, refused.refusal_reason) == (
        nyc.id, REFUSED_AT, RefusalCategory.DAMAGED, "two vials cracked, box crushed")
    assert (refused.received_at, refused.cancelled_at, refused.returned_at) == (None, None, None)
    assert world.session.scalar(select(func.count()).select_from(Movement)) == movements
    for item in refused.items:
        container = item.container
        assert (container.state, container.remaining, container.clinic_id) == (
            ContainerState.IN_TRANSIT, Decimal(0), world.clinic.id)
        assert item.in_movement_id is None
    assert stock_on_hand(world, world.clinic) == stock_on_hand(world, world.other_clinic) == 0


def test_a_refusal_is_in_the_audit_trail_with_its_reason_and_category(world):
    transfer = sent_from_london(world)
    refuse(world, transfer, reason="arrived at 14 °C", category=RefusalCategory.TEMPERATURE)
    (event,) = audit(world, "transfer.refused")
    assert (event.actor_id, event.clinic_id, event.object_type, event.object_id, event.at) == (
        world.nyc_manager().id, world.other_clinic.id, "transfer", str(transfer.id), REFUSED_AT)
    assert event.details == {"category": "temperature", "reason": "arrived at 14 °C", "from_clinic": "LON",
                             "to_clinic": "NYC", "container_ids": sorted(i.container_id for i in transfer.items)}


def test_a_refused_transfer_is_never_received_or_refused_again(world):
    transfer = refuse(world, sent_from_london(world))
    before = snapshot(world)
    for call in (lambda: receive(world, transfer), lambda: refuse(world, transfer)):
        error = refusal(call)
        assert (error.code, error.status) == ("transfer_refused", 409)
        assert error.details == {"transfer_id": transfer.id, "status": "refused"}
        assert "box crushed" in error.message and "records its return" in error.message
    assert snapshot(world) == before


def test_only_a_transfer_in_transit_is_refused_with_the_code_of_its_state(world):
    received = receive(world, sent_from_london(world, 1, lot="R1"))
    cancelled = bring_back(world, sent_from_london(world, 1, lot="C1"))
    before = snapshot(world)
    assert refusal(lambda: refuse(world, received)).code == "transfer_already_received"
    assert refusal(lambda: refuse(world, cancelled)).code == "transfer_cancelled"
    assert snapshot(world) == before


def test_a_reason_is_required_and_short(world):
    transfer = sent_from_london(world)
    before = snapshot(world)
    for reason in (None, "", "   ", "x" * (clinic_transfers.MAX_REFUSAL_REASON + 1), "warm\x00box"):
        error = refusal(lambda: refuse(world, transfer, reason=reason))
        assert (error.code, error.details["field"]) == ("validation_error", "reason")
    assert snapshot(world) == before


def test_only_the_destination_refuses_and_a_third_clinic_is_told_it_does_not_exist(world, session):
    transfer = sent_from_london(world)
    before = snapshot(world)
    # The sender sees the transfer, so it is told why it may not refuse it, as it is for receiving.
    error = refusal(lambda: refuse(world, transfer, user="clinic_manager"))
    assert (error.code, error.status) == ("receiving_clinic_only", 403)
    paris_manager = make_user(session, "par-manager", Role.MANAGER, [make_clinic(session, "PAR", "Europe/Paris")])
    assert refusal(lambda: refuse(world, transfer, user=paris_manager)).code == "not_found"
    assert snapshot(world) == before
    # A chain-level manager works at both ends, and may.
    assert refuse(world, transfer, user="manager").refused_by_id == world.users["manager"].id


def test_the_refused_stock_cannot_be_used_anywhere_before_its_return(world):
    (filler,) = refuse(world, sent_from_london(world, 1, "filler", lot="F1")).items
    container = filler.container
    nurse = world.users["nurse"]
    treatment = start_treatment(world, patient(world, "P-1", name="Alex Morgan"))
    assert refusal(lambda: draw(world, treatment, container, "0.1", "mL", area="lip", user=nurse)).code == (
        "container_in_transit")
    assert refusal(lambda: send_transfer(world, [container])).code == "container_in_transit"


# --- the sender records the return -------------------------------------------------------------------------


def test_the_sender_records_the_return_back_where_each_container_left_and_both_ledgers_balance(world):
    transfer = sent_from_london(world)
    kept = world.container(lot="KEPT1")
    fridge = world.location("Fridge")
    refuse(world, transfer)

    returned = bring_back(world, transfer)

    manager = world.users["clinic_manager"]
    assert returned.status is TransferStatus.RETURNED
    assert (returned.returned_by_id, returned.returned_at) == (manager.id, BACK_AT)
    assert (returned.cancelled_at, returned.cancelled_by_id) == (None, None)  # a return is not a call-back
    assert (returned.refusal_reason, returned.refusal_category) == ("box crushed", RefusalCategory.DAMAGED)
    for item in returned.items:
        container = item.container
        assert (container.state, container.remaining, container.clinic_id, container.location_id,
                container.on_hold_since) == (ContainerState.SEALED, Decimal(100), world.clinic.id, fridge.id, None)
        back = world.session.get(Movement, item.in_movement_id)
        assert (back.kind, back.clinic_id, back.location_id, back.quantity, back.at, back.actor_id) == (
            MovementKind.TRANSFER_IN, world.clinic.id, fridge.id, Decimal(100), BACK_AT, manager.id)
        assert back.note == f"transfer {transfer.id} refused by NYC: back in LON"
    # London's ledger shows 200 U out and 200 U back; New York's never saw it.
    rows = dict(world.session.execute(
        select(Movement.kind, func.sum(Movement.quantity)).where(Movement.clinic_id == world.clinic.id,
                                                                 Movement.kind.in_([MovementKind.TRANSFER_OUT,
                                                                                    MovementKind.TRANSFER_IN]))
        .group_by(Movement.kind)).all())
    assert {kind: Decimal(total) for kind, total in rows.items()} == {
        MovementKind.TRANSFER_OUT: Decimal(-200), MovementKind.TRANSFER_IN: Decimal(200)}
    assert world.session.scalar(select(func.count()).select_from(Movement).where(
        Movement.clinic_id == world.other_clinic.id)) == 0
    assert stock_on_hand(world, world.clinic) == 300 and kept.remaining == 100
    assert ledger.find_balance_mismatches(world.session) == []
    (event,) = audit(world, "transfer.returned")
    assert (event.actor_id, event.clinic_id, event.object_id) == (manager.id, world.clinic.id, str(transfer.id))
    assert event.details["held_container_ids"] == [] and event.details["category"] == "damaged"
    # Back home, it may be used or sent again.
    again = send_transfer(world, [item.container for item in returned.items], user="clinic_manager", at=BACK_AT)
    assert again.status is TransferStatus.IN_TRANSIT


def test_a_return_is_recorded_once_and_only_by_the_sending_clinic(world):
    transfer = refuse(world, sent_from_london(world))
    before = snapshot(world)
    error = refusal(lambda: bring_back(world, transfer, user="nyc"))
    assert (error.code, error.status) == ("sending_clinic_only", 403)
    assert snapshot(world) == before

    bring_back(world, transfer)
    before = snapshot(world)
    for call in (lambda: bring_back(world, transfer), lambda: receive(world, transfer),
                 lambda: refuse(world, transfer)):
        error = refusal(call)
        assert (error.code, error.details["status"]) == ("transfer_refused", "returned")
        assert f"Its return to {world.clinic.name} is recorded." in error.message
    assert snapshot(world) == before


def test_refused_for_its_temperature_the_stock_comes_back_on_hold_except_supplies(world, session):
    toxins = world.receive("botox", containers=2, lot="WARM1").containers
    (syringe,) = world.receive("syringe", lot="SYR1").containers
    transfer = send_transfer(world, [*toxins, syringe], user="clinic_manager")
    refuse(world, transfer, reason="logger shows 14 °C for 6 hours", category=RefusalCategory.TEMPERATURE)
    # On the road back nothing is on hold yet: the hold starts where the stock is, at home.
    assert all(c.on_hold_since is None for c in (*toxins, syringe))

    bring_back(world, transfer)

    for container in toxins:
        assert (container.state, container.remaining, container.on_hold_since) == (
            ContainerState.SEALED, Decimal(100), BACK_AT)
        assert container.hold_reason == (
            f"refused by NYC for its temperature (transfer {transfer.id}): logger shows 14 °C for 6 hours")
    assert syringe.on_hold_since is None  # kept at any temperature
    (event,) = audit(world, "transfer.returned")
    assert event.details["held_container_ids"] == sorted(c.id for c in toxins)
    # Held: nobody mixes it until a safety lead releases it (the cold chain's own rule and board).
    assert refusal(lambda: reconstitute(world, toxins[0])).code == "container_on_hold"
    held = {h.container.id: h for h in cold_chain.open_holds(session, scope=Scope.everything())}
    assert set(held) == {c.id for c in toxins}
    released = cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(),
                                       container_id=toxins[0].id, reason="manufacturer: stable 72 h at 25 °C",
                                       now=BACK_AT)
    assert released.on_hold_since is None and released.hold_reason is None


def test_a_vial_back_from_a_warm_refusal_wasted_then_corrected_is_held_again(world, session):
    """QA: wasting the returned vial ended its hold, and reversing the waste left it usable: the hold had no
    excursion record to reopen. How a hold ended is read from the audit trail, whatever put it on hold."""
    (vial,) = world.receive("botox", lot="WARM2").containers
    transfer = send_transfer(world, [vial], user="clinic_manager")
    refuse(world, transfer, reason="logger shows 14 °C", category=RefusalCategory.TEMPERATURE)
    bring_back(world, transfer)
    reason = vial.hold_reason
    # A held vial is the safety lead's to waste (tests/api/test_held_waste_api.py).
    wasted = waste(world, vial, "dropped", user="safety", at=BACK_AT + dt.timedelta(hours=1))
    assert vial.on_hold_since is None

    reverse(world, wasted, "wrong vial scanned", at=BACK_AT + dt.timedelta(hours=2))

    assert vial.remaining == Decimal(100) and (vial.on_hold_since, vial.hold_reason) == (BACK_AT, reason)
    assert refusal(lambda: reconstitute(world, vial)).code == "container_on_hold"
    (reopened,) = audit(world, "container.hold_reopened")
    assert reopened.details["hold_reason"] == reason and reopened.details["excursion_ids"] == []


@pytest.mark.parametrize("category", [c for c in RefusalCategory if c is not RefusalCategory.TEMPERATURE])
def test_refused_for_anything_but_temperature_the_stock_comes_back_usable(world, category):
    transfer = sent_from_london(world, 1)
    refuse(world, transfer, category=category)
    (item,) = bring_back(world, transfer).items
    assert (item.container.state, item.container.on_hold_since) == (ContainerState.SEALED, None)


# --- lists and the database's own guard ---------------------------------------------------------------------


def test_refused_transfers_stay_at_the_top_of_the_lists_until_their_return(world, session):
    newest = sent_from_london(world, 1, lot="N1")
    older = send_transfer(world, world.receive(lot="O1").containers, user="clinic_manager",
                          at=NOW - dt.timedelta(days=3))
    received = send_transfer(world, world.receive(lot="X1").containers, user="clinic_manager",
                             at=NOW + dt.timedelta(hours=1))
    receive(world, received)
    refuse(world, older)
    lon = Scope.for_user(world.users["clinic_manager"])
    assert clinic_transfers.list_transfers(session, scope=lon).transfers == [newest, older, received]
    assert clinic_transfers.list_transfers(session, scope=lon, status=TransferStatus.REFUSED).transfers == [older]
    bring_back(world, older)
    assert clinic_transfers.list_transfers(session, scope=lon).transfers == [newest, received, older]
    assert clinic_transfers.list_transfers(session, scope=lon, status=TransferStatus.RETURNED).transfers == [older]


def test_the_database_ties_each_status_to_its_facts(world, session):
    transfer = sent_from_london(world, 1)
    nyc = world.nyc_manager()
    broken = [
        dict(status=TransferStatus.REFUSED),  # refused by nobody
        dict(status=TransferStatus.REFUSED, refused_at=REFUSED_AT, refused_by_id=nyc.id, refusal_reason="x"),  # no category
        dict(refused_at=REFUSED_AT, refused_by_id=nyc.id, refusal_reason="x",
             refusal_category=RefusalCategory.OTHER),  # in transit, yet refused
        dict(status=TransferStatus.RETURNED, refused_at=REFUSED_AT, refused_by_id=nyc.id, refusal_reason="x",
             refusal_category=RefusalCategory.OTHER),  # returned by nobody
    ]
    for values in broken:
        with pytest.raises(IntegrityError):
            with session.begin_nested():
                for name, value in values.items():
                    setattr(transfer, name, value)
                session.flush()
        session.expire_all()
        transfer = session.get(Transfer, transfer.id)
        assert transfer.status is TransferStatus.IN_TRANSIT


def test_the_api_literals_name_exactly_the_model_values():
    assert set(Status.__args__) == {s.value for s in TransferStatus}
    assert set(Category.__args__) == {c.value for c in RefusalCategory}
