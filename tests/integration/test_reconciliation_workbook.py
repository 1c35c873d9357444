"""The reconciliation workbook: its sheets and formulas, and LibreOffice recalculating them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from inventory.models import Location, LocationKind
from inventory.reconciliation import service as reconciliation
from inventory.reconciliation import export
from inventory.services.permissions import Scope
from tests.factories import NOW, World
from tests.reconciliation_factories import JUNE, build_history, consignments, recompute

REQUIRE_LIBREOFFICE = os.environ.get("VIALOG_REQUIRE_LIBREOFFICE") == "1"
NOTE = "=1+1 dropped, @once"  # a waste note in the history that looks like a formula
SHELF = "@Shelf"  # a location name that looks like a formula
FLOWS = ("received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned")
FIRST = export.SUMMARY_HEADER_ROW + 1


def history_with_odd_names(world: World) -> None:
    build_history(world)
    consignments(world)  # stock between clinics, some of it on the road at the end of June
    shelf = Location(clinic_id=world.clinic.id, name=SHELF, kind=LocationKind.STORAGE)
    world.session.add(shelf)
    world.session.flush()
    world.receive("syringe", lot="-SY1", containers=2, location=shelf, now=dt.datetime(2026, 6, 10, tzinfo=dt.UTC))


def write(session, path: Path, **kwargs) -> export.WorkbookResult:
    with path.open("wb") as out:
        return export.write_workbook(session, out, scope=Scope.everything(), period=JUNE, now=NOW, **kwargs)


def column(letter: str) -> int:
    return openpyxl.utils.column_index_from_string(letter)


def test_the_workbook_has_its_sheets_frozen_headers_filters_and_live_formulas(world, session, tmp_path):
    history_with_odd_names(world)
    result = write(session, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")

    assert book.sheetnames == ["Summary", "Movements", "Variances", "Usage"]
    assert book.properties.creator == "Vialog" and "2026-06-01 to 2026-06-30" in book.properties.title
    assert book.properties.created == NOW.replace(tzinfo=None)
    summary, movements, variances, usage = (book[name] for name in book.sheetnames)
    assert [s.freeze_panes for s in (summary, movements, variances, usage)] == ["C5", "A2", "A2", "A2"]
    assert not any(s.protection.sheet for s in (summary, movements, variances, usage))
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    rows = result.summary_rows
    assert rows == len(rec.rows) > 20
    assert summary.auto_filter.ref == f"A4:AG{FIRST + rows - 1}"  # ids in AA to AC, then coverage and supplier
    assert movements.auto_filter.ref == f"A1:R{result.movement_rows + 1}"
    assert variances.auto_filter.ref.startswith("A1:Q")
    # 30 characters as Excel shows them: the file stores the width with Excel's padding (30.71 for 30).
    assert 30 <= summary.column_dimensions["A"].width < 31 and 30 <= movements.column_dimensions["D"].width < 31

    assert [c.value for c in summary[4]][:8] == ["Product", "Unit", "Lot", "Expiry", "Clinic", "Location",
                                                 "Opening", "Received"]
    received = summary[f"H{FIRST}"].value
    assert received.startswith("=SUMIFS('Movements'!$J$2:$J$") and received.endswith(',"received")')
    assert summary[f"I{FIRST}"].value.startswith("=-(SUMIFS(")
    assert summary[f"O{FIRST}"].value == f"=G{FIRST}+H{FIRST}-I{FIRST}-J{FIRST}+K{FIRST}+L{FIRST}-M{FIRST}-N{FIRST}"
    assert summary["P4"].value == "In transit at end"  # a value from Vialog, beside expected closing
    assert summary[f"S{FIRST}"].value == f'=IF(Q{FIRST}="","",Q{FIRST}-R{FIRST})'
    assert summary[f"G{FIRST}"].number_format == export.QTY_FORMAT
    assert summary.conditional_formatting  # variances are highlighted
    totals_row = export.product_totals_first_row(result.summary_rows)
    assert summary[f"A{totals_row}"].value == rec.by_product()[0].product.name
    assert [p.name for p in result.products] == [group.product.name for group in rec.by_product()]
    assert summary[f"H{totals_row}"].value.startswith(f"=SUMIFS(H${FIRST}:H$")

    assert [c.value for c in movements[1]][:10] == ["When (clinic time)", "Clinic", "Location", "Product", "Unit",
                                                    "Lot", "Container", "Kind", "Counts as", "Quantity"]
    assert movements["A2"].number_format == export.WHEN_FORMAT and movements["J2"].number_format == export.QTY_FORMAT
    assert len(usage._charts) >= 3
    assert usage["H1"].value == "Month" and usage["H2"].value == "2026-06"


def test_the_movements_sheet_is_every_ledger_row_of_the_period_in_clinic_time(world, session, tmp_path):
    history_with_odd_names(world)
    result = write(session, tmp_path / "r.xlsx")
    expected = recompute(session, JUNE)
    assert result.movement_rows == sum(int(v.get("movements", 0)) for v in expected.values())
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Movements"]
    noted = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[12] == NOTE]
    assert len(noted) == 1
    when, clinic, *_ = noted[0]
    assert (when, clinic) == (dt.datetime(2026, 6, 1, 0, 30), "LON")  # 23:30 UTC on 31 May, in London time
    kinds = {(row[7], row[8]) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert ("reversal", "drawn") in kinds and ("reversal", "wasted") in kinds


def test_text_that_looks_like_a_formula_stays_text(world, session, tmp_path):
    history_with_odd_names(world)
    write(session, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    note = next(c for row in book["Movements"].iter_rows(min_row=2, min_col=13, max_col=13) for c in row
                if c.value == NOTE)
    assert note.data_type == "s" and note.quotePrefix
    shelf = next(c for row in book["Summary"].iter_rows(min_row=FIRST, min_col=6, max_col=6) for c in row
                 if c.value == SHELF)
    assert shelf.data_type == "s" and shelf.quotePrefix
    lot = next(c for row in book["Summary"].iter_rows(min_row=FIRST, min_col=3, max_col=3) for c in row
               if c.value == "-SY1")
    assert lot.data_type == "s"


# A string of the shape XlsxWriter gives its own rich strings, which in constant-memory mode it copies
# into the sheet's XML unescaped: this one would close its cell and add a formula cell.
RICH_LOOKING = '<r><t>a</t></r></is></c><c r="ZZ1"><f>1+1</f></c><c t="inlineStr"><is><r><t>b</t></r>'


def test_text_shaped_like_markup_stays_text(world, session, tmp_path):
    build_history(world)
    place = Location(clinic_id=world.clinic.id, name=RICH_LOOKING, kind=LocationKind.STORAGE)
    session.add(place)
    session.flush()
    world.receive("syringe", lot="RS1", containers=1, location=place, now=dt.datetime(2026, 6, 10, tzinfo=dt.UTC))
    write(session, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert RICH_LOOKING in [row[5] for row in book["Summary"].iter_rows(min_row=FIRST, values_only=True)]
    assert RICH_LOOKING in [row[2] for row in book["Movements"].iter_rows(min_row=2, values_only=True)]
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert not any(c.coordinate == "ZZ1" or c.value == "=1+1" for c in cells)


def test_formulas_of_excel_2007_functions_are_stored_as_written_and_newer_ones_get_their_prefix(tmp_path):
    # export._Worksheet skips XlsxWriter's formula preparation by overriding a private method: it must
    # still exist, or the override silently does nothing (the export is correct, but twice as slow).
    assert "_prepare_formula" in vars(xlsxwriter.worksheet.Worksheet)
    options = {"constant_memory": True, "use_future_functions": True}  # STDEV.S gets its prefix
    workbook = xlsxwriter.Workbook(str(tmp_path / "f.xlsx"), options)
    sheet = workbook.add_worksheet("S", export._Worksheet)
    sheet.write_formula(0, 0, "=IF(B1=\"\",\"\",SUMIFS('Movements (2)'!C:C,D:D,1))")
    sheet.write_formula(1, 0, "=STDEV.S(C1:C3)")
    workbook.close()
    written = openpyxl.load_workbook(tmp_path / "f.xlsx")["S"]
    assert written["A1"].value == "=IF(B1=\"\",\"\",SUMIFS('Movements (2)'!C:C,D:D,1))"
    assert written["A2"].value == "=_xlfn.STDEV.S(C1:C3)"


def test_movements_continue_on_more_sheets_past_the_row_limit(world, session, tmp_path):
    history_with_odd_names(world)
    result = write(session, tmp_path / "r.xlsx", max_rows=40)
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    parts = list(result.movement_sheets)
    assert len(parts) == -(-result.movement_rows // 39) >= 3
    assert parts == ["Movements"] + [f"Movements ({n})" for n in range(2, len(parts) + 1)]
    assert book.sheetnames == ["Summary", *parts, "Variances", "Usage"]
    assert all(book[name].max_row <= 40 for name in parts)
    assert sum(book[name].max_row - 1 for name in parts) == result.movement_rows
    received = book["Summary"][f"H{FIRST}"].value
    assert all(f"SUMIFS('{name}'!$J$2:$J${book[name].max_row}," in received for name in parts)
    assert received.count("SUMIFS(") == len(parts)


def test_a_failed_export_leaves_no_temporary_files(world, session, tmp_path, monkeypatch):
    # Each sheet's rows wait in a temporary file until the workbook is zipped.
    history_with_odd_names(world)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def database_gone(*args, **kwargs):
        raise RuntimeError("the connection was lost")

    monkeypatch.setattr(export, "_write_variances", database_gone)
    with pytest.raises(RuntimeError):
        write(session, tmp_path / "r.xlsx")
    assert list(scratch.iterdir()) == []
    assert (tmp_path / "r.xlsx").stat().st_size == 0  # nothing half-written either


def test_the_csv_is_the_same_rows_with_text_guarded(world, session):
    history_with_odd_names(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    rows = list(csv.DictReader(io.StringIO(export.write_csv(rec))))
    assert len(rows) == len(rec.rows)
    for line, row in zip(rows, rec.rows, strict=True):
        assert Decimal(line["expected_closing"]) == row.expected_closing
        assert Decimal(line["drawn"]) == row.drawn
        assert line["variance"] == ("" if row.variance is None else f"{row.variance.normalize():f}")
    shelf = [line for line in rows if line["location"].endswith(SHELF)]
    assert shelf and all(line["location"] == "'" + SHELF and line["lot"] == "'-SY1" for line in shelf)


# --- a real spreadsheet program recalculates the formulas ------------------------------------------------


def libreoffice() -> str:
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    if binary is None:
        if REQUIRE_LIBREOFFICE:
            pytest.fail("LibreOffice (soffice) is required here (VIALOG_REQUIRE_LIBREOFFICE=1) but not installed")
        pytest.skip("LibreOffice (soffice) is not installed; set VIALOG_REQUIRE_LIBREOFFICE=1 to require it")
    return binary


# Recalculate every formula when a file is loaded (LibreOffice's default may trust cached values).
_ALWAYS_RECALCULATE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def recalculate_with_libreoffice(source: Path, workdir: Path) -> Path:
    """Converts the workbook with LibreOffice headless, so its own engine computes every formula."""
    binary = libreoffice()
    profile = workdir / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_ALWAYS_RECALCULATE)
    out = workdir / "recalculated"
    out.mkdir()
    completed = subprocess.run(
        [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nolockcheck",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    converted = out / source.name
    assert completed.returncode == 0 and converted.exists(), completed.stdout + completed.stderr
    return converted


def number(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def formula_results(formulas, values) -> dict[str, Decimal | None]:
    """Every formula cell of a sheet (``formulas``: read as written) with its value in ``values`` (the same
    sheet read with ``data_only``): None for an empty result."""
    results = {}
    for row in formulas.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                value = values[cell.coordinate].value
                results[cell.coordinate] = None if value in (None, "") else number(value)
    return results


def test_every_formula_carries_the_services_result_for_programs_that_do_not_recalculate(world, session, tmp_path):
    # A phone's preview, a mail client, pandas or openpyxl with data_only=True read each formula's cached value.
    history_with_odd_names(world)
    source = tmp_path / "reconciliation.xlsx"
    result = write(session, source, max_rows=60)  # formulas over several movements sheets
    book = openpyxl.load_workbook(source, data_only=True)
    summary = book["Summary"]
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)

    for offset, row in enumerate(rec.rows):
        cells = summary[FIRST + offset]
        value = {letter: cells[column(letter) - 1].value for letter in "HIJKLMNOPSZ"}
        for letter, name in zip("HIJKLMN", FLOWS, strict=True):
            assert value[letter] is not None and number(value[letter]) == getattr(row, name), (row.lot.number, name)
        assert value["O"] is not None and number(value["O"]) == row.expected_closing == row.closing
        assert number(value["P"]) == row.in_transit_at_end
        if row.variance is None:
            assert value["S"] in (None, "") and value["Z"] in (None, "")
        else:
            assert value["S"] is not None and number(value["S"]) == row.variance
            assert value["Z"] is not None and number(value["Z"]) == row.sealed_variance
    assert sum(1 for row in rec.rows if row.variance is not None) >= 3
    assert sum(1 for row in rec.rows if row.drawn) > 10
    # QA: -(SUMIFS(...)) of nothing was stored as -0.0, which a preview shows as "-0".
    negative_zero = [cell.coordinate for row in summary.iter_rows() for cell in row
                     if isinstance(cell.value, float) and cell.value == 0 and str(cell.value).startswith("-")]
    assert negative_zero == []

    first_total = export.product_totals_first_row(result.summary_rows)
    for offset, group in enumerate(rec.by_product()):
        cells = summary[first_total + offset]
        assert cells[0].value == group.product.name
        for letter, name in zip("GHIJKLMNOP", ("opening", *FLOWS, "expected_closing", "in_transit_at_end"),
                                strict=True):
            cached = cells[column(letter) - 1].value
            assert cached is not None and number(cached) == group.total(name), (group.product.name, name)
        assert number(cells[column("Q") - 1].value) == sum(
            (row.counted for row in group.rows if row.counted is not None), Decimal(0))
        variance = cells[column("S") - 1].value  # empty, never 0, for a product nobody counted
        assert variance in (None, "") if group.total_variance() is None else \
            number(variance) == group.total_variance()

    lines = [row for row in book["Variances"].iter_rows(min_row=2, values_only=True) if row[0] is not None]
    assert lines
    for line in lines:
        assert line[13] is not None and number(line[13]) == number(line[11]) - number(line[12])
        sealed = None if line[14] is None or line[15] is None else line[14] - line[15]
        assert (line[16] in (None, "")) if sealed is None else number(line[16]) == sealed

    # No formula anywhere is left without its result, but those whose result is empty.
    written = openpyxl.load_workbook(source)
    for name in ("Summary", "Variances"):
        results = formula_results(written[name], book[name])
        assert results
        empty = [coordinate for coordinate, value in results.items() if value is None]
        assert all(coordinate.startswith(("S", "Z", "Q", "R")) for coordinate in empty), (name, empty[:5])


def test_libreoffice_recalculates_the_services_numbers(world, session, tmp_path):
    libreoffice()
    history_with_odd_names(world)
    source = tmp_path / "reconciliation.xlsx"
    result = write(session, source, max_rows=60)  # several movements sheets: the formulas add them up
    assert len(result.movement_sheets) >= 3
    book = openpyxl.load_workbook(recalculate_with_libreoffice(source, tmp_path), data_only=True)
    summary = book["Summary"]
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    assert result.summary_rows == len(rec.rows)

    checked = 0
    for offset, row in enumerate(rec.rows):
        cells = summary[FIRST + offset]
        value = {letter: cells[column(letter) - 1].value for letter in ("A", "C", "F", *"GHIJKLMNOPSZ")}
        assert (value["A"], value["C"], value["F"]) == (row.product.name, row.lot.number, row.location.name)
        for letter, name in zip("HIJKLMN", FLOWS, strict=True):
            assert number(value[letter]) == getattr(row, name), (row.lot.number, name)
        assert number(value["O"]) == row.expected_closing == row.closing
        assert number(value["P"]) == row.in_transit_at_end
        if row.variance is None:
            assert value["S"] in (None, "")
        else:
            assert number(value["S"]) == row.variance
            assert number(value["Z"]) == row.sealed_variance
        checked += 1
    assert checked == len(rec.rows) > 20
    assert any(row.in_transit_at_end for row in rec.rows)

    first_total = export.product_totals_first_row(result.summary_rows)
    for offset, group in enumerate(rec.by_product()):
        cells = summary[first_total + offset]
        assert cells[0].value == group.product.name
        for letter, name in zip("HIJKLMN", FLOWS, strict=True):
            assert number(cells[column(letter) - 1].value) == group.total(name), (group.product.name, name)
        assert number(cells[column("O") - 1].value) == group.total("expected_closing")
        assert number(cells[column("P") - 1].value) == group.total("in_transit_at_end")
        variance = cells[column("S") - 1].value  # empty, never 0, for a product nobody counted
        assert variance in (None, "") if group.total_variance() is None else \
            number(variance) == group.total_variance()

    variances = book["Variances"]
    lines = [row for row in variances.iter_rows(min_row=2, values_only=True) if row[0] is not None]
    assert lines and all(number(line[13]) == number(line[11]) - number(line[12]) for line in lines)

    # What LibreOffice computed is what the file carried for programs that do not recalculate.
    cached = openpyxl.load_workbook(source, data_only=True)
    for name in ("Summary", "Variances"):
        assert formula_results(openpyxl.load_workbook(source)[name], cached[name]) == \
            formula_results(openpyxl.load_workbook(source)[name], book[name]), name
    notes = [row[12] for name in result.movement_sheets for row in book[name].iter_rows(min_row=2, values_only=True)]
    assert NOTE in notes  # still the text someone typed, not 2
    assert SHELF in [row[5] for row in summary.iter_rows(min_row=FIRST, values_only=True)]


def test_the_workbook_is_written_from_plain_rows_not_orm_objects(world, session, tmp_path):
    # A chain's year has tens of thousands of rows: as ORM objects they did not fit the memory budget.
    history_with_odd_names(world)
    session.expunge_all()
    result = write(session, tmp_path / "r.xlsx")
    assert result.summary_rows > 20 and result.movement_rows > 100
    loaded = {type(obj).__name__ for obj in session.identity_map.values()}
    assert not loaded & {"Lot", "Location", "Container", "Movement", "Count", "CountLine", "Receipt"}, loaded
