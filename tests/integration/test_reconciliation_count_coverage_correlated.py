"""QA: a row counted in full by the month's last count read "partly counted: 3 of 4 containers". How many of the
lot's containers the ledger held there at the count was worked out against every count of the period, not the one
the row shows: a syringe an earlier count of the month found missing (empty at the last count) was taken for one
held then, because it held stock when that earlier count was made. Each row's containers at count are those the
ledger held at its own count's moment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from inventory.counts import service as counts
from inventory.counts.models import Count
from inventory.counts.service import LineSpec
from inventory.reconciliation import service as reconciliation
from inventory.services.permissions import Scope
from tests.factories import NOW, World
from tests.reconciliation_factories import JUNE

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
LOT = "QA5151C"


def _posted(world: World, at: dt.datetime, **spec: Any) -> Count:
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    count = counts.start_count(world.session, actor=counter, scope=Scope.for_user(counter),
                               location_id=world.location("Fridge").id, now=at)
    if spec.get("counted") is not None:
        spec["counted"] = Decimal(spec["counted"])
    counts.add_line(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(**spec), now=at)
    counts.submit(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=at)
    return counts.post(world.session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id,
                       now=at + HOUR)


def test_a_lot_counted_in_full_by_its_last_count_is_not_partly_counted(world, session):
    first, second, third = world.receive("botox", lot=LOT, containers=3).containers
    _posted(world, NOW + HOUR, container=first.label_code, counted="0")  # missing: written off
    last = _posted(world, NOW + 3 * HOUR, lot_id=first.lot_id, containers=2)  # the two still there, both found

    (row,) = [r for r in reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE).rows
              if r.lot.number == LOT]

    assert row.count_id == last.id
    assert (row.containers_counted, row.containers_at_count) == (2, 2)
    assert not row.partly_counted and row.count_coverage_note is None
