"""The ledger: balances follow the movements, refusals write nothing, tampering is caught."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from inventory.errors import InsufficientQuantity
from inventory.models import Container, ContainerState, Movement, MovementKind
from inventory.services import ledger
from inventory.services.permissions import Scope
from tests.factories import NOW


def test_received_containers_balance_with_their_movements(world, session):
    receipt = world.receive("botox", containers=4)
    assert [c.remaining for c in receipt.containers] == [Decimal(100)] * 4
    assert ledger.find_balance_mismatches(session) == []
    total = session.scalar(select(func.sum(Movement.quantity)).where(Movement.kind == MovementKind.RECEIVE))
    assert total == Decimal(400)


def test_record_keeps_exact_decimals_on_both_databases(world, session):
    container = world.container("filler")  # 0.55 mL
    locked = ledger.lock_container(session, container.id, Scope.everything())
    for _ in range(3):
        ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal("-0.1833"),
                      actor=world.users["nurse"], at=NOW)
    session.flush()
    session.expire_all()
    assert session.get(Container, container.id).remaining == Decimal("0.0001")
    assert ledger.find_balance_mismatches(session) == []


def test_taking_more_than_remains_is_refused_not_clamped(world, session):
    container = world.container("filler")
    locked = ledger.lock_container(session, container.id, Scope.everything())
    with pytest.raises(InsufficientQuantity) as refused:
        ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal("-0.56"),
                      actor=world.users["nurse"], at=NOW)
    assert refused.value.details["remaining"] == "0.55"  # as every answer writes a quantity
    assert locked.remaining == Decimal("0.55")


def test_a_container_that_reaches_zero_is_empty_or_discarded(world, session):
    drawn = ledger.lock_container(session, world.container("filler").id, Scope.everything())
    ledger.record(session, drawn, kind=MovementKind.DRAW, quantity=Decimal("-0.55"), actor=world.users["nurse"], at=NOW)
    wasted = ledger.lock_container(session, world.container("filler", lot="B2").id, Scope.everything())
    ledger.record(session, wasted, kind=MovementKind.WASTE, quantity=Decimal("-0.55"), actor=world.users["nurse"], at=NOW)
    assert (drawn.state, wasted.state) == (ContainerState.EMPTY, ContainerState.DISCARDED)


def test_a_tampered_cached_balance_is_reported(world, session):
    container = world.container("botox")
    session.execute(update(Container).where(Container.id == container.id).values(remaining=Decimal(60)))
    mismatches = ledger.find_balance_mismatches(session)
    assert [(m.container_id, m.cached, m.ledger) for m in mismatches] == [(container.id, Decimal(60), Decimal(100))]


def test_another_clinics_container_cannot_be_locked(world, session):
    container = world.container("botox", location=world.location(clinic=world.other_clinic))
    with pytest.raises(Exception) as refused:
        ledger.lock_container(session, container.id, Scope.for_user(world.users["nurse"]))
    assert getattr(refused.value, "code", None) == "not_found"


def test_the_database_refuses_a_negative_balance(world, session):
    container = world.container("botox")
    with pytest.raises(Exception) as refused:
        with session.begin_nested():
            session.execute(update(Container).where(Container.id == container.id).values(remaining=Decimal(-1)))
    assert "remaining_not_negative" in str(refused.value) or "CHECK" in str(refused.value).upper()
