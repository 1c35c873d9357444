"""How many of a lot's containers a reconciliation row's count covered, of how many the ledger held there when it
was made: a count by box covers the sealed vials only, and what arrived or left after the count changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.counterfeit.models import Supplier
from inventory.counts.service import LineSpec
from inventory.receiving import service as receiving
from inventory.reconciliation import service as reconciliation
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests import factories
from tests.factories import send_transfer
from tests.reconciliation_coverage_scene import NORTHFIELD
from tests.reconciliation_factories import JUNE, HistoryBuilder

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

UTC = dt.UTC


def test_a_count_by_box_covers_the_sealed_vials_of_the_lot_there_then(world, session):
    b = HistoryBuilder(world)
    fridge, cart = world.location("Fridge"), world.location("Cart")
    mixed = b.receive("botox", "LL1", 3, fridge, dt.datetime(2026, 6, 3, 9, tzinfo=UTC))
    factories.reconstitute(world, mixed[0], at=dt.datetime(2026, 6, 4, 9, tzinfo=UTC))  # opened: not in a box
    sealed = b.receive("botox", "LL2", 2, fridge, dt.datetime(2026, 6, 3, 9, tzinfo=UTC))
    b.count(fridge, dt.datetime(2026, 6, 10, 9, tzinfo=UTC), [LineSpec(lot_id=mixed[0].lot_id, containers=2),
                                                            LineSpec(lot_id=sealed[0].lot_id, containers=2)])
    # After the count: more of the lot arrives, and a counted vial leaves for the cart. The count stays 2 of 3.
    b.receive("botox", "LL1", 2, fridge, dt.datetime(2026, 6, 12, 9, tzinfo=UTC))
    b.move(mixed[1], cart, dt.datetime(2026, 6, 13, 9, tzinfo=UTC))
    session.flush()

    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE, location_id=fridge.id)
    rows = {row.lot.number: row for row in rec.rows}
    partial, whole = rows["LL1"], rows["LL2"]
    assert (partial.counted, partial.expected_at_count, partial.variance) == (200, 200, 0)
    assert (partial.containers_counted, partial.containers_at_count, partial.partly_counted) == (2, 3, True)
    assert partial.count_coverage_note == "partly counted: 2 of 3 containers"  # the opened vial was not counted
    assert (whole.containers_counted, whole.containers_at_count, whole.partly_counted) == (2, 2, False)
    assert whole.count_coverage_note is None
    # The cart's row has no count: nothing to say of its coverage.
    cart_row = next(row for row in reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE,
                                                            location_id=cart.id).rows)
    assert (cart_row.containers_counted, cart_row.containers_at_count, cart_row.partly_counted) == (None, None, False)


def test_a_lot_whose_only_container_went_missing_on_the_road_names_no_supplier_via_that_transfer(world, session):
    # New York received the box, but lot QA3DYS's only vial in it never arrived: it came by no transfer.
    northfield = Supplier(name=NORTHFIELD, licence="WDA(H) 90211", is_authorised=True)
    session.add(northfield)
    session.flush()
    dysport = world.products["dysport"]
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    arrived, lost = (receiving.receive(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location("Fridge").id,
        containers=1, now=at, gtin=dysport.gtins[0].gtin, lot_number=lot, expiry=dt.date(2027, 9, 30),
        supplier_id=northfield.id).containers[0] for lot in ("QA4DYS", "QA3DYS"))
    transfer = send_transfer(world, [arrived, lost], at=at + dt.timedelta(days=1))
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id,
                             now=at + dt.timedelta(days=2), missing=[lost.id], missing_reason="not in the box")
    named = reconciliation.suppliers_of(session, clinic_ids=[world.other_clinic.id])
    assert named == {(arrived.lot_id, world.other_clinic.id): f"{NORTHFIELD} (via transfer from LON)"}
