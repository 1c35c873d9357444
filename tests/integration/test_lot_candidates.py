"""The lots a typed number on file nowhere could be a slip for (recall/queries.py ``lot_candidates``): one
statement, whatever the number of lots, within the scope."""

from __future__ import annotations

import pytest

from inventory.services.permissions import Scope
from recall import queries
from tests.statements import recorded


def test_the_lots_it_could_be_are_read_in_one_statement_within_the_scope(world, session):
    world.container("firm_filler", lot="VM88B21")
    world.container("botox", lot="VM88B22", location=world.location("Fridge", world.other_clinic))
    world.container("botox", lot="XQ1234")
    session.flush()
    london = Scope(frozenset({world.clinic.id}))
    with recorded(session) as sent:
        found = queries.lot_candidates(session, "vm88b2l", london)
    assert [(c.number, c.product) for c in found] == [("VM88B21", "Juvederm Voluma XC 1.0 mL")]
    assert len(sent) == 1
    assert [c.number for c in queries.lot_candidates(session, "VM88B2l", Scope.everything())] \
        == ["VM88B21", "VM88B22"]


def test_find_lots_refuses_a_slip_rather_than_tracing_a_lot_it_could_be(world, session):
    world.container("firm_filler", lot="VM88B21")
    session.flush()
    with pytest.raises(queries.LotNotOnFile) as caught:
        queries.find_lots(session, "VM88B2l", Scope.everything())
    assert caught.value.code == "not_found" and [c.number for c in caught.value.candidates] == ["VM88B21"]
