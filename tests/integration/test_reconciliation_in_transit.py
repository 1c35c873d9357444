"""Stock in transit between clinics at the end of a reconciliation period: on the sender's row, apart from
expected closing, in the service, the workbook and the CSV, with the same number of statements."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from inventory.reconciliation import export
from inventory.reconciliation import service as reconciliation
from inventory.services.permissions import Scope
from tests.factories import NOW, send_transfer
from tests.reconciliation_factories import JUNE, consignments, recompute
from tests.statements import plan, recorded

UTC = dt.UTC
FIRST = export.SUMMARY_HEADER_ROW + 1

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(params=["from the end", "from the start"])
def direction(request, monkeypatch):
    """Either end of the ledger the balances are worked from (``_nearer_the_start``): the same figures."""
    from_start = request.param == "from the start"
    monkeypatch.setattr(reconciliation, "_nearer_the_start", lambda *args: from_start)
    return request.param


def by_lot_and_clinic(rec: reconciliation.Reconciliation) -> dict[str, reconciliation.ReconciliationRow]:
    rows = {f"{row.lot.number} {row.clinic.code}": row for row in rec.rows}
    assert len(rows) == len(rec.rows)  # one location per lot and clinic here
    return rows


def test_what_left_and_arrived_nowhere_by_the_end_is_in_transit_on_the_senders_row(world, session, direction):
    expected = consignments(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    rows = by_lot_and_clinic(rec)
    assert {key: rows[key].in_transit_at_end for key in expected} == expected

    r1 = rows["R1 LON"]
    # Four vials in the fridge on 1 June; three went out in June (the fourth at midnight, in July), one arrived.
    assert (r1.opening, r1.transfers_out, r1.expected_closing, r1.closing) == (400, 300, 100, 100)
    # Sent in May and still on the road: no June movement, yet the row is there to say where the stock is.
    r2 = rows["R2 LON"]
    assert (r2.opening, r2.movements, r2.transfers_out, r2.transfers_in, r2.expected_closing) == (300, 1, 300, 0, 0)
    assert r2.in_transit_at_end == 600
    for row in rec.rows:  # in transit is on no shelf: expected closing is still the ledger's balance
        assert row.expected_closing == row.closing

    # Plain Python over the raw ledger and transfer rows agrees on every row and figure.
    raw = recompute(session, JUNE)
    assert {(row.lot.id, row.location.id) for row in rec.rows} == set(raw)
    for row in rec.rows:
        assert row.in_transit_at_end == raw[(row.lot.id, row.location.id)].get("in_transit_at_end", 0)
        assert row.closing == raw[(row.lot.id, row.location.id)]["closing"]

    totals = {group.product.name: group.total("in_transit_at_end") for group in rec.by_product()}
    assert totals["Botox Cosmetic 100 U"] == 300 and totals["Dysport 300 U"] == 600


def test_a_period_ending_before_the_send_or_after_the_arrival_has_nothing_in_transit(world, session):
    consignments(world)
    may = reconciliation.reconcile(session, scope=Scope.everything(),
                                   period=reconciliation.Period(dt.date(2026, 5, 1), dt.date(2026, 5, 31)))
    rows = by_lot_and_clinic(may)
    assert rows["R2 LON"].in_transit_at_end == 300  # sent on 25 May; the other Dysport vial left in June
    assert rows["R1 LON"].in_transit_at_end == 0
    july = reconciliation.reconcile(session, scope=Scope.everything(),
                                    period=reconciliation.Period(dt.date(2026, 7, 1), dt.date(2026, 7, 31)))
    rows = by_lot_and_clinic(july)
    # The midnight vial and the May vial are still on the road; the 29 June one arrived on 2 July.
    assert (rows["R1 LON"].in_transit_at_end, rows["R2 LON"].in_transit_at_end) == (200, 300)
    assert rows["N1 NYC"].in_transit_at_end == 100


def test_one_location_and_a_clinic_managers_clinics(world, session):
    consignments(world)
    fridge = world.location("Fridge")
    one_place = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE, location_id=fridge.id)
    assert {row.lot.number: row.in_transit_at_end for row in one_place.rows} == {
        "R1": 200, "R2": 600, "R3": 0}
    cart = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE,
                                    location_id=world.location("Cart").id)
    assert cart.rows == []
    theirs = reconciliation.reconcile(session, scope=Scope.for_user(world.users["clinic_manager"]), period=JUNE)
    assert {row.clinic.code for row in theirs.rows} == {"LON"}
    assert sum(row.in_transit_at_end for row in theirs.rows) == 800


def test_the_number_of_statements_does_not_grow_with_what_is_in_transit(world, session):
    lon_fridge = world.location("Fridge")
    june = dt.datetime(2026, 6, 10, 10, tzinfo=UTC)
    first = world.receive("botox", lot="S0", containers=1, location=lon_fridge, now=june).containers
    send_transfer(world, first, at=june)
    session.flush()

    def statements() -> int:
        with recorded(session) as sent:
            rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
        assert rec.rows
        return len(sent)

    before = statements()
    for n in range(1, 6):
        vials = world.receive("dysport" if n % 2 else "botox", lot=f"S{n}", containers=2, location=lon_fridge,
                              now=june).containers
        send_transfer(world, vials, at=june + dt.timedelta(hours=n))
    session.flush()
    after = statements()
    assert after == before
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    assert len([row for row in rec.rows if row.in_transit_at_end]) == 6


def test_the_workbook_and_the_csv_show_in_transit_at_end_beside_expected_closing(world, session, tmp_path):
    expected = consignments(world)
    path = tmp_path / "r.xlsx"
    with path.open("wb") as out:
        result = export.write_workbook(out=out, session=session, scope=Scope.everything(), period=JUNE, now=NOW)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    summary = openpyxl.load_workbook(path)["Summary"]
    cached = openpyxl.load_workbook(path, data_only=True)["Summary"]
    assert summary[f"{export.S_EXPECTED}4"].value == "Expected closing"
    assert summary[f"{export.S_IN_TRANSIT}4"].value == "In transit at end"
    shown = {}
    for offset, row in enumerate(rec.rows):
        r = FIRST + offset
        assert (summary[f"C{r}"].value, summary[f"E{r}"].value) == (row.lot.number, row.clinic.code)
        assert Decimal(str(summary[f"{export.S_IN_TRANSIT}{r}"].value)) == row.in_transit_at_end
        assert Decimal(str(cached[f"{export.S_EXPECTED}{r}"].value)) == row.expected_closing
        shown[f"{row.lot.number} {row.clinic.code}"] = row.in_transit_at_end
    assert {key: shown[key] for key in expected} == expected
    totals = export.product_totals_first_row(result.summary_rows)
    assert summary[f"{export.S_IN_TRANSIT}{totals - 1}"].value == "In transit at end"
    for offset, group in enumerate(rec.by_product()):
        cell = cached[f"{export.S_IN_TRANSIT}{totals + offset}"]
        assert summary[f"{export.S_IN_TRANSIT}{totals + offset}"].value.startswith("=SUMIFS(P$")
        assert Decimal(str(cell.value)) == group.total("in_transit_at_end"), group.product.name

    lines = list(csv.DictReader(io.StringIO(export.write_csv(rec))))
    assert {f"{line['lot']} {line['clinic']}": Decimal(line["in_transit_at_end"]) for line in lines} == \
        {key: row.in_transit_at_end for key, row in by_lot_and_clinic(rec).items()}
    assert list(lines[0])[:15] == list(export.CSV_COLUMNS)[:15]  # the columns before it are where they were


def test_the_consignments_are_found_through_the_sending_clinics_index(world, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan")
    consignments(world)
    with recorded(session) as sent:
        reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    statement, parameters = next((s, p) for s, p in sent if "transfer_items" in s)
    shown = plan(session, statement, parameters)
    assert "ix_transfers_from_clinic_status" in shown
    assert "Seq Scan" not in shown
