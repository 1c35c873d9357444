"""A product's count totals when none, some or all of its rows were counted in the period.

A total of 0 for a product nobody counted reads "counted, nothing missing" to an auditor: the
totals of counted, expected at count and variance add up the counted rows only, are empty (None,
null, a blank cell) when none was counted, and say how many rows were counted when only some were.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from inventory.counts.service import LineSpec
from inventory.reconciliation import export
from inventory.reconciliation import service as reconciliation
from inventory.services.permissions import Scope
from tests.factories import NOW, World
from tests.integration.test_reconciliation_workbook import column, recalculate_with_libreoffice
from tests.reconciliation_factories import JUNE, HistoryBuilder

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

UTC = dt.UTC
BOTOX, DYSPORT, FILLER, HYLENEX = ("Botox Cosmetic 100 U", "Dysport 300 U", "Juvederm Volbella XC 0.55 mL",
                                   "Hylenex recombinant 150 USP U/mL")
# What each product's count totals must be: (counted, expected at count, variance, rows counted, rows).
EXPECTED = {
    BOTOX: (Decimal(200), Decimal(300), Decimal(-100), 1, 2),  # the fridge counted, the cart not: partly
    DYSPORT: (Decimal(600), Decimal(600), Decimal(0), 1, 1),  # counted, nothing missing: 0, not empty
    FILLER: (Decimal("0.55"), Decimal("1.1"), Decimal("-0.55"), 1, 1),  # counted, one syringe missing
    HYLENEX: (None, None, None, 0, 1),  # never counted: empty, never 0
}


def counted_in_part(world: World) -> None:
    """June: botox in the fridge and on the cart, dysport and hylenex in the fridge, filler on the cart; the
    fridge's botox and dysport and the cart's filler are counted, the cart's botox and the hylenex are not."""
    b = HistoryBuilder(world)
    fridge, cart = world.location("Fridge"), world.location("Cart")
    received = dt.datetime(2026, 6, 3, 9, tzinfo=UTC)
    botox = b.receive("botox", "BX1", 3, fridge, received)
    b.receive("botox", "BX1", 2, cart, received)
    dysport = b.receive("dysport", "DY1", 2, fridge, received)
    filler = b.receive("filler", "FL1", 2, cart, received)
    b.receive("hylenex", "HY1", 2, fridge, received)
    counted = dt.datetime(2026, 6, 20, 17, tzinfo=UTC)
    b.count(fridge, counted, [LineSpec(lot_id=botox[0].lot_id, containers=2),  # one vial missing
                              LineSpec(lot_id=dysport[0].lot_id, containers=2)])
    b.count(cart, counted, [LineSpec(lot_id=filler[0].lot_id, containers=1)])  # one syringe missing
    world.session.flush()


def report(session) -> reconciliation.Reconciliation:
    return reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)


def test_count_totals_add_up_the_counted_rows_only_and_are_none_when_nothing_was_counted(world, session):
    counted_in_part(world)
    rec = report(session)
    totals = {group.product.name: group for group in rec.by_product()}
    assert set(totals) == set(EXPECTED)
    for name, (counted, expected_at_count, variance, rows_counted, rows) in EXPECTED.items():
        group = totals[name]
        assert (group.counted_total("counted"), group.counted_total("expected_at_count"),
                group.total_variance(), group.rows_counted, len(group.rows)) == \
            (counted, expected_at_count, variance, rows_counted, rows), name
        assert group.partly_counted == (0 < rows_counted < rows), name
    # The rows themselves are as before: the cart's botox and the hylenex have no count.
    uncounted = {(row.product.name, row.location.name) for row in rec.rows if row.counted is None}
    assert uncounted == {(BOTOX, "Cart"), (HYLENEX, "Fridge")}


def write(session, path: Path) -> export.WorkbookResult:
    with path.open("wb") as out:
        return export.write_workbook(session, out, scope=Scope.everything(), period=JUNE, now=NOW)


def totals_rows(sheet, result: export.WorkbookResult) -> dict[str, dict[str, object]]:
    """The per-product totals below the Summary's table, by product: each cell by its column letter."""
    first = export.product_totals_first_row(result.summary_rows)
    rows = {}
    for offset in range(len(result.products)):
        cells = sheet[first + offset]
        rows[cells[0].value] = {letter: cells[column(letter) - 1].value for letter in "GOPQRSTUV"}
    return rows


def assert_count_totals(rows: dict[str, dict[str, object]]) -> None:
    for name, (counted, expected_at_count, variance, rows_counted, rows_total) in EXPECTED.items():
        cells = rows[name]
        if counted is None:
            assert (cells["Q"], cells["R"], cells["S"]) in ((None, None, None), ("", "", "")), (name, cells)
            assert cells["V"] == "not counted", name
        else:
            assert [Decimal(str(cells[letter])) for letter in "QRS"] == [counted, expected_at_count, variance], name
            assert cells["V"] == (f"partly counted: {rows_counted} of {rows_total} rows"
                                  if rows_counted < rows_total else None), name
        assert (cells["T"], cells["U"]) == (rows_counted, rows_total), name


def test_the_workbook_leaves_the_count_totals_of_an_uncounted_product_empty(world, session, tmp_path):
    counted_in_part(world)
    source = tmp_path / "r.xlsx"
    result = write(session, source)
    assert export.TOTALS_ROW_COLUMNS == ("T", "U", "V")

    # Programs that do not recalculate read the cached results.
    assert_count_totals(totals_rows(openpyxl.load_workbook(source, data_only=True)["Summary"], result))

    # The cells stay live formulas over the table: empty only when none of the product's rows has a count.
    formulas = totals_rows(openpyxl.load_workbook(source)["Summary"], result)
    first, last = export.SUMMARY_HEADER_ROW + 1, export.SUMMARY_HEADER_ROW + result.summary_rows
    for name, cells in formulas.items():
        product_id = next(product.id for product in result.products if product.name == name)
        rows_counted = f'COUNTIFS($AA${first}:$AA${last},{product_id},Q${first}:Q${last},"<>")'
        for letter in "QRS":
            assert cells[letter] == (f'=IF({rows_counted}=0,"",SUMIFS({letter}${first}:{letter}${last},'
                                     f'$AA${first}:$AA${last},{product_id}))'), (name, letter)
        assert cells["T"] == f"={rows_counted}"
        assert cells["U"] == f"=COUNTIFS($AA${first}:$AA${last},{product_id})"
        assert cells["G"].startswith("=SUMIFS(") and cells["O"].startswith("=SUMIFS(")  # as before


def test_libreoffice_recalculates_the_same_count_totals(world, session, tmp_path):
    counted_in_part(world)
    source = tmp_path / "r.xlsx"
    result = write(session, source)
    recalculated = openpyxl.load_workbook(recalculate_with_libreoffice(source, tmp_path), data_only=True)
    assert_count_totals(totals_rows(recalculated["Summary"], result))
