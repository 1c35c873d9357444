"""The cart's open treatments (migration 0026): the page and its count read a partial index of the treatments
still open, never the clinic's years of closed ones. Plans are PostgreSQL's (behaviour, never timing:
tests/statements.py)."""

from __future__ import annotations

import pytest

from inventory.cart import service as cart
from inventory.services.permissions import Scope
from tests.factories import NOW, start_treatment
from tests.statements import plan, recorded


def test_the_open_treatments_and_their_count_read_the_open_ones_alone(world, session, backend):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    start_treatment(world, "P-OPEN-1", at=NOW)
    with recorded(session) as sent:
        found = cart.open_treatment_page(session, scope=Scope.for_user(world.users["nurse"]), limit=20)
    assert found.total == 1
    reads = [s for s in sent if "FROM treatments" in s[0] and "closed_at IS NULL" in s[0]]
    assert len(reads) == 2  # the page, and the count
    for statement in reads:
        assert "ix_treatments_open" in plan(session, *statement)
