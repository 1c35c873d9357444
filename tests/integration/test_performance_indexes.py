"""The partial indexes of migration 0005_performance serve the queries they were made for.

Behaviour, not timing (docs/performance.md): kit readiness still sees an emergency draw and the
kit's live stock, and on PostgreSQL the statements readiness sends can use the small partial
indexes: their WHERE clauses imply the indexes' predicates (a reworded filter would silently fall
back to scanning every container or the whole ledger at chain scale). Sequential scans are
switched off while explaining, so the planner shows which index it can use, not what is cheapest
on a test-sized table.
"""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.kits.models import KitStatus
from tests.factories import NOW
from tests.kit_factories import (
    check,
    emergency_draw,
    new_kit,
    state,
    stock,
    stocked_kit,
)
from tests.statements import plan, recorded


def _readiness_statements(world, kit) -> tuple[object, list[tuple[str, object]]]:
    with recorded(world.session) as statements:
        found = state(world, kit)
    return found, statements


def test_readiness_still_sees_live_stock_and_emergency_use(world, session):
    kit = new_kit(world)
    vials = stock(world, kit, "hylenex", count=2)
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit, at=NOW - dt.timedelta(days=1))
    found, _ = _readiness_statements(world, kit)
    assert found.status is KitStatus.READY
    assert all(line.met for line in found.lines)
    emergency_draw(world, vials[0], "150", at=NOW - dt.timedelta(hours=2))
    found, _ = _readiness_statements(world, kit)
    assert found.status is KitStatus.NOT_READY
    assert "emergency_use" in [reason.code for reason in found.reasons]


def test_readiness_queries_can_use_the_partial_indexes(world, session, backend):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    kit = stocked_kit(world)
    _, statements = _readiness_statements(world, kit)
    stock = [s for s in statements if "sum(containers.remaining)" in s[0]]
    emergency = [s for s in statements if "max(movements.at)" in s[0]]
    assert len(stock) == 1 and len(emergency) == 1
    assert "ix_containers_live_location" in plan(session, *stock[0], without=("ix_containers_location_id",))
    assert "ix_movements_emergency_location_at" in plan(session, *emergency[0], without=("ix_movements_location_at",))
