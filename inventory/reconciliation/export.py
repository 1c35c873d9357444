"""The reconciliation as an Excel workbook an auditor can check by hand, and as CSV.

The workbook is written with XlsxWriter in constant-memory mode while rows stream from
the database in chunks: ledger rows, the reconciliation's rows (plain tuples, written as
they come, never held together) and count lines. Each sheet keeps one row in memory and
the rest in a temporary file, so a year of a large chain stays within modest memory.
(XlsxWriter writes the same cells as openpyxl's write-only mode in about 0.8 of the
time; see docs/performance.md.) Its sheets:

- **Summary**: one row per product, lot and location. Opening, in transit at end,
  counted and expected at count are values from Vialog; every period total is a live
  SUMIFS formula over the Movements sheet(s), so Excel or LibreOffice recomputes them
  from the ledger rows; expected closing and the variances are formulas too. Totals
  per product follow below the table (never across products); their counted, expected
  at count and variance add up the counted rows only and are empty when none was
  counted (never 0, which would read "counted, nothing missing"), with how many rows
  were counted beside them. After the ids, each row says how many of the lot's
  containers there its count covered, of how many the ledger held there then ("partly
  counted: 1 of 2 containers" when not all), and who supplied the lot to the clinic.
- **Movements** (and "Movements (2)", ... past the row limit): every ledger row of
  the period, in the clinic's time zone.
- **Variances**: every line of every count posted in the period.
- **Usage**: units or mL drawn per product per month and per injector, with charts.

Every formula carries its result as computed by Vialog (the cell's cached value): a
program that shows a workbook without recalculating it (a phone's preview, a mail
client, a library reading cached values) shows Vialog's figures, and one that
recalculates (Excel, LibreOffice) computes the same numbers from the ledger rows.

Text is always written as text: text typed by people (names, notes, lot numbers) that
starts with ``= + - @`` also gets Excel's quote prefix, so it can never run as a formula
even when the cell is edited; in the CSV it is prefixed with an apostrophe (the usual
CSV-injection guard). The CSV is for people, like the workbook: its times are the clinic's
(ISO 8601 with the clinic's offset, the zone named in the column's header), where the JSON
API keeps UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from inventory.models import Clinic, Location
from inventory.models.base import plain_quantity
from inventory.services.clock import to_clinic_time
from inventory.validators import writable_text
from inventory.services.permissions import Scope
from inventory.reconciliation.service import (
    CATEGORY,
    ZERO,
    Period,
    Reconciliation,
    ReconciliationLine,
    UsageRow,
    clinics_and_location,
    count_coverage_note,
    count_lines_stmt,
    movements_stmt,
    reconciliation_lines,
    suppliers_of,
    usage,
    where_text,
)

EXCEL_MAX_ROWS = 1_048_576  # rows in one Excel worksheet, header included
CHUNK_ROWS = 2000  # ledger rows fetched from the database at a time
MAX_USAGE_CHARTS = 12
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

QTY_FORMAT = "#,##0.0###"
INT_FORMAT = "0"
WHEN_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
VARIANCE_FILL = "#FDE8E7"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SPECIAL_STARTS = (*_FORMULA_STARTS, "<r>")  # text _write_text looks at twice
_PLAIN_TEXTS_KEPT = 100_000  # distinct texts a movements sheet remembers (a few MB at most)
# Every string goes in as a string: XlsxWriter's write() would otherwise guess formulas, numbers and links.
_WORKBOOK_OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                     "strings_to_urls": False}
CHART_WIDTH_PX, CHART_HEIGHT_PX = 605, 283  # 16 x 7.5 cm at 96 dpi


def is_formula_like(text: str) -> bool:
    return text.startswith(_FORMULA_STARTS)


# The functions this workbook's formulas are made of: all in Excel since 2007, stored without a prefix.
EXCEL_2007_FUNCTIONS = frozenset({"SUMIFS", "COUNTIFS", "IF", "AND", "OR", "ISNUMBER"})
_FUNCTION_CALL = re.compile(r"([A-Z][A-Z0-9.]*)\(")


class _Worksheet(Worksheet):
    """XlsxWriter's worksheet, storing formulas of Excel 2007 functions as written.

    XlsxWriter runs about thirty regular expressions over every formula to give functions newer than
    Excel 2007 their "_xlfn." prefix: on the Summary's ten formulas a row, that was most of the export's
    time (twice bare openpyxl's, instead of about the same). A formula calling only EXCEL_2007_FUNCTIONS
    needs no prefix and skips them; any other formula goes through XlsxWriter's own preparation. This
    overrides a private method of XlsxWriter 3.x (added with the documented ``add_worksheet(name,
    worksheet_class)``); tests/integration/test_reconciliation_workbook.py fails if it disappears.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if (not formula.startswith("{") and not formula.endswith("}")  # array formulas: XlsxWriter's way
                and set(_FUNCTION_CALL.findall(formula)) <= EXCEL_2007_FUNCTIONS):
            return formula.removeprefix("=")
        return str(super()._prepare_formula(formula, expand_future_functions))


class Formula(NamedTuple):
    """A cell's formula ("=...") and its result as Vialog computed it, stored as the cell's cached value.

    A program that does not recalculate (a phone's preview, a mail client, a library reading cached
    values) shows ``value``; Excel and LibreOffice recalculate on load and find the same. A formula is
    never taken for text that only looks like one."""

    text: str
    value: float | int | str  # "" for a formula that shows nothing (a row without a count)


def _result(value: Decimal | int | None) -> float | int | str:
    """A cached result as the cell holds it: a number, or "" for an empty result."""
    if value is None:
        return ""
    return float(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class _Formats:
    """The workbook's cell formats, made once (XlsxWriter keeps one style per distinct format)."""

    plain: Format
    bold: Format
    title: Format
    quoted: Format  # text that looks like a formula: Excel keeps it text when the cell is edited
    qty: Format
    when: Format
    date: Format
    variance: Format  # the conditional highlight of a non-zero variance

    @classmethod
    def of(cls, workbook: Workbook) -> _Formats:
        return cls(
            plain=workbook.add_format(), bold=workbook.add_format({"bold": True}),
            title=workbook.add_format({"bold": True, "font_size": 14}),
            quoted=workbook.add_format({"quote_prefix": True}),
            qty=workbook.add_format({"num_format": QTY_FORMAT}),
            when=workbook.add_format({"num_format": WHEN_FORMAT}),
            date=workbook.add_format({"num_format": DATE_FORMAT}),
            variance=workbook.add_format({"bg_color": VARIANCE_FILL, "bold": True}),
        )


# --- cells ------------------------------------------------------------------------------------------


def _write_text(
    sheet: Worksheet, row: int, col: int, value: str, formats: _Formats, fmt: Format | None = None,
) -> None:
    """Text, kept as text: a value that looks like a formula never becomes one, and characters XML cannot
    hold (in rows stored before inventory/validators.py refused them) become U+FFFD."""
    value = writable_text(value)
    if not value.startswith(_SPECIAL_STARTS):  # most text: one test
        sheet.write_string(row, col, value, fmt)
    elif is_formula_like(value):
        sheet.write_string(row, col, value, formats.quoted)
    elif value.endswith("</r>"):
        # In constant-memory mode XlsxWriter copies a string of this shape into the sheet's XML unescaped
        # (its own rich strings look so): written as a rich string of two runs in the default font, it is
        # escaped and reads the same.
        sheet.write_rich_string(row, col, value[:1], formats.plain, value[1:], *((fmt,) if fmt else ()))
    else:
        sheet.write_string(row, col, value, fmt)


def _write_row(
    sheet: Worksheet, row: int, values: Sequence[Any], column_formats: Sequence[Format | None], formats: _Formats,
) -> None:
    """One row of plain values (a ``Formula`` for a formula; None leaves the cell empty) under its
    columns' formats; ``row`` counts from 0, as XlsxWriter does."""
    for col, value in enumerate(values):
        if value is None:
            continue
        fmt = column_formats[col]
        if isinstance(value, Formula):
            # -(SUMIFS(...)) of nothing is -0.0 in Python: stored as 0, or a preview shows "-0".
            result = value.value + 0 if isinstance(value.value, float) else value.value
            sheet.write_formula(row, col, value.text, fmt, result)
        elif isinstance(value, str):
            _write_text(sheet, row, col, value, formats, fmt)
        elif isinstance(value, dt.date):  # a datetime too
            sheet.write_datetime(row, col, value, fmt)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, fmt)
        else:
            sheet.write_number(row, col, float(value) if isinstance(value, Decimal) else value, fmt)


def _prepare(
    sheet: Worksheet, columns: Iterable[tuple[str, float]], formats: _Formats, *, freeze: str, header: bool = True,
) -> None:
    """Column widths, frozen panes and (unless the sheet writes its own) the bold header row."""
    columns = list(columns)
    for col, (_, width) in enumerate(columns):
        sheet.set_column(col, col, width)
    sheet.freeze_panes(freeze)
    if header:
        for col, (title, _) in enumerate(columns):
            sheet.write_string(0, col, title, formats.bold)


def _highlight_variances(sheet: Worksheet, column: str, first: int, last: int, formats: _Formats) -> None:
    sheet.conditional_format(f"{column}{first}:{column}{last}", {
        "type": "formula", "criteria": f"=AND(ISNUMBER({column}{first}),{column}{first}<>0)",
        "format": formats.variance,
    })


# --- the Movements sheet(s) ---------------------------------------------------------------

# (header, width); the letters matter: the Summary's formulas name them.
MOVEMENT_COLUMNS: tuple[tuple[str, float], ...] = (
    ("When (clinic time)", 20), ("Clinic", 10), ("Location", 16), ("Product", 30), ("Unit", 7), ("Lot", 14),
    ("Container", 12), ("Kind", 13), ("Counts as", 13), ("Quantity", 11), ("Who", 18), ("Reason", 18),
    ("Note", 30), ("Treatment", 10), ("Movement", 10), ("Reverses", 10), ("Lot id", 8), ("Location id", 11),
)
M_QTY, M_CATEGORY, M_LOT_ID, M_LOCATION_ID = "J", "I", "Q", "R"
_ROW = "{row}"  # where a formula template takes its Summary row's number


@dataclass
class _SheetPart:
    title: str
    sheet: Worksheet
    rows: int = 1  # the header

    @property
    def last_row(self) -> int:
        # An empty sheet still gives the formulas a valid (header-only, never matching) range.
        return max(self.rows, 2)


@dataclass
class _MovementSheets:
    """Movements, continued on "Movements (2)", ... when a sheet reaches ``max_rows``.

    Sheets are added in the workbook's order, so the Variances and Usage sheets are added only
    once every movement is written."""

    workbook: Workbook
    formats: _Formats
    max_rows: int
    parts: list[_SheetPart] = field(default_factory=list)
    # Text seen before, made writable, that needs no special care (no formula look, no "<r>"): a clinic's
    # month repeats its clinic, places, products, units, lots, kinds and people on every row.
    _plain: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_rows < 2:
            raise ValueError("a movements sheet needs room for its header and one row")
        self._new_part()

    def _new_part(self) -> None:
        title = f"Movements ({len(self.parts) + 1})" if self.parts else "Movements"
        sheet = self.workbook.add_worksheet(title, _Worksheet)
        _prepare(sheet, MOVEMENT_COLUMNS, self.formats, freeze="A2")
        self.parts.append(_SheetPart(title, sheet))

    def append(self, when: dt.datetime, texts: Sequence[str | None], quantity: Decimal,
               texts_after: Sequence[str | None], numbers: Sequence[int | None]) -> None:
        """One ledger row, by column kind: the hot loop of a large export, so no per-cell type dispatch."""
        part = self.parts[-1]
        if part.rows >= self.max_rows:
            self._new_part()
            part = self.parts[-1]
        sheet, row, formats = part.sheet, part.rows, self.formats
        sheet.write_datetime(row, 0, when, formats.when)
        self._write_texts(sheet, row, 1, texts)  # B to I
        sheet.write_number(row, 9, float(quantity), formats.qty)  # J
        self._write_texts(sheet, row, 10, texts_after)  # K to M
        for col, number in enumerate(numbers, start=13):  # N to R
            if number is not None:
                sheet.write_number(row, col, number)
        part.rows += 1

    def _write_texts(self, sheet: Worksheet, row: int, first_col: int, texts: Sequence[str | None]) -> None:
        """``_write_text`` for each, with what it found for a text already seen remembered."""
        plain = self._plain
        for col, text in enumerate(texts, start=first_col):
            if text is None:
                continue
            safe = plain.get(text)
            if safe is None:
                safe = writable_text(text)
                if safe.startswith(_SPECIAL_STARTS):
                    _write_text(sheet, row, col, text, self.formats)
                    continue
                if len(plain) < _PLAIN_TEXTS_KEPT:
                    plain[text] = safe
            sheet.write_string(row, col, safe)

    def finish(self) -> None:
        last = xl_col_to_name(len(MOVEMENT_COLUMNS) - 1)
        for part in self.parts:
            part.sheet.autofilter(f"A1:{last}{part.rows}")

    def sumifs_template(self, category: str) -> str:
        """SUMIFS of one category for a Summary row's lot and location, over every part, with ``_ROW``
        for that row's number: built once, filled in for every row."""
        terms = []
        for part in self.parts:
            ref = f"'{part.title}'!${{col}}$2:${{col}}${part.last_row}"
            terms.append(
                f"SUMIFS({ref.format(col=M_QTY)},{ref.format(col=M_LOT_ID)},{S_LOT_ID}{_ROW},"
                f"{ref.format(col=M_LOCATION_ID)},{S_LOCATION_ID}{_ROW},{ref.format(col=M_CATEGORY)},\"{category}\")"
            )
        return "+".join(terms)


def _write_movements(
    session: Session, sheets: _MovementSheets, clinics: list[Clinic], period: Period, location_id: int | None,
    chunk: int,
) -> int:
    written = 0
    for clinic in clinics:
        zone = ZoneInfo(clinic.timezone)
        stmt = movements_stmt(clinic, period, location_id)
        # Plain rows through the connection: the ORM's per-row work buys nothing for named columns.
        for m in session.connection().execute(stmt, execution_options={"yield_per": chunk}):
            sheets.append(
                m.at.astimezone(zone).replace(tzinfo=None),
                (clinic.code, m.location, m.product, m.base_unit, m.lot, m.label_code, m.kind.value,
                 CATEGORY[m.category]),
                m.quantity,
                (m.who, m.reason, m.note),
                (m.treatment_id, m.id, m.reverses_id, m.lot_id, m.location_id),
            )
            written += 1
    sheets.finish()
    return written


# --- the Summary sheet -------------------------------------------------------------------------

SUMMARY_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Product", 30), ("Unit", 7), ("Lot", 14), ("Expiry", 11), ("Clinic", 10), ("Location", 16),
    ("Opening", 11), ("Received", 11), ("Drawn", 11), ("Wasted", 11), ("Adjusted", 11), ("Transfers in", 12),
    ("Transfers out", 13), ("Returned", 11), ("Expected closing", 16), ("In transit at end", 16), ("Counted", 11),
    ("Expected at count", 17), ("Variance", 11), ("Count", 8), ("Counted at (clinic time)", 21),
    ("Sealed at start", 14), ("Sealed at end", 13), ("Sealed counted", 14), ("Sealed expected at count", 22),
    ("Sealed variance", 15), ("Product id", 10), ("Lot id", 8), ("Location id", 11),
    # After the ids, so that no column an auditor's sheet or the formulas name moves (AD to AG).
    ("Containers counted", 18), ("Containers here at count", 23), ("Count covered", 34), ("Supplier", 40),
)
SUMMARY_HEADER_ROW = 4


_SUMMARY_TITLES = [title for title, _ in SUMMARY_COLUMNS]


def summary_column(title: str) -> str:
    """The Summary's column letter of a header."""
    return xl_col_to_name(_SUMMARY_TITLES.index(title))


S_FLOWS = (  # (column, category, sign in the cell, the reconciliation line's figure)
    ("H", "received", 1, "received"), ("I", "drawn", -1, "drawn"), ("J", "wasted", -1, "wasted"),
    ("K", "adjusted", 1, "adjusted"), ("L", "transfer in", 1, "transfers_in"),
    ("M", "transfer out", -1, "transfers_out"), ("N", "returned", -1, "returned"),
)
S_FIRST_FLOW = S_FLOWS[0][0]
S_OPENING, S_EXPECTED, S_IN_TRANSIT = map(summary_column, ("Opening", "Expected closing", "In transit at end"))  # G O P
S_COUNTED, S_EXPECTED_AT_COUNT, S_VARIANCE = map(summary_column, ("Counted", "Expected at count", "Variance"))  # Q R S
S_SEALED_COUNTED, S_SEALED_EXPECTED, S_SEALED_VARIANCE = map(
    summary_column, ("Sealed counted", "Sealed expected at count", "Sealed variance"))  # X Y Z
S_PRODUCT_ID, S_LOT_ID, S_LOCATION_ID = ("$" + summary_column(t) for t in ("Product id", "Lot id", "Location id"))
# The quantity columns, opening to variance (G to S): each product's totals below the table add them up.
S_SUMMED = tuple(map(xl_col_to_name, range(_SUMMARY_TITLES.index("Opening"), _SUMMARY_TITLES.index("Variance") + 1)))
# Of those, the count's (Q R S): a product's total of them is empty when none of its rows was counted.
S_COUNT_SUMMED = (S_COUNTED, S_EXPECTED_AT_COUNT, S_VARIANCE)
_COUNTED_FIGURE = S_SUMMED.index(S_COUNTED)  # where a row's counted quantity is in its _summary_figures
# Beside each product's totals: how many of its rows were counted, of how many, and a word when not all.
TOTALS_ROW_TITLES = ("Rows counted", "Rows", "")
TOTALS_ROW_COLUMNS = tuple(  # T U V: right after the summed columns
    xl_col_to_name(_SUMMARY_TITLES.index("Opening") + len(S_SUMMED) + i) for i in range(len(TOTALS_ROW_TITLES)))


def _summary_formats(formats: _Formats) -> tuple[Format | None, ...]:
    """Each column's format: expiry a date, opening to variance quantities, counted at a date and time."""
    leading = (None, None, None, formats.date, None, None, *(formats.qty,) * len(S_SUMMED), None, formats.when)
    return (*leading, *(None,) * (len(SUMMARY_COLUMNS) - len(leading)))


# The expected closing, as a formula of the row's own cells.
_CLOSING = "={o}{r}+H{r}-I{r}-J{r}+K{r}+L{r}-M{r}-N{r}"


@dataclass(eq=False)
class ProductColumn:
    """A product in the per-product totals under the Summary's table, with the sums of its rows' quantity
    columns (``S_SUMMED``) as Excel's SUMIFS finds them: a blank or "" cell adds nothing."""

    id: int
    name: str
    unit: str
    sums: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * len(S_SUMMED), repr=False)
    rows: int = 0
    rows_counted: int = 0

    def add(self, figures: Sequence[Decimal | None]) -> None:
        """One row's ``_summary_figures``."""
        sums = self.sums
        for i, value in enumerate(figures):
            if value is not None:
                sums[i] += value
        self.rows += 1
        if figures[_COUNTED_FIGURE] is not None:
            self.rows_counted += 1

    @property
    def counted_note(self) -> str | None:
        """What an auditor must know before reading the count totals: not counted, or only partly."""
        if self.rows_counted == 0:
            return "not counted"
        if self.rows_counted < self.rows:
            return f"partly counted: {self.rows_counted} of {self.rows} rows"
        return None


def _write_summary(
    sheet: Worksheet, formats: _Formats, lines: Iterable[ReconciliationLine], movements: _MovementSheets, *,
    clinics: list[Clinic], where: str, period: Period, now: dt.datetime, suppliers: dict[tuple[int, int], str],
) -> tuple[int, list[ProductColumn]]:
    """Writes each reconciliation row as it streams in; returns how many, and the products seen.
    ``suppliers`` is ``suppliers_of`` the clinics."""
    _prepare(sheet, SUMMARY_COLUMNS, formats, freeze=f"C{SUMMARY_HEADER_ROW + 1}", header=False)
    zone = clinics[0].timezone if len(clinics) == 1 else "UTC"
    sheet.write_string(0, 0, "Vialog reconciliation", formats.title)
    _write_text(sheet, 1, 0, f"{period} (dates in each clinic's own time zone) · {where} · "
                             f"made {to_clinic_time(now, zone):%Y-%m-%d %H:%M} {zone}", formats)
    sheet.write_string(2, 0, (
        "Period totals are SUMIFS formulas over the Movements sheets; opening, counted and expected at count "
        "are Vialog's figures. A reversed draw or waste reduces drawn or wasted. Units of different products are "
        "never added. A product's counted, expected at count and variance totals add up its counted rows only, "
        "and are empty when none was counted. A row's count may cover only some of the lot's containers there: "
        "see Containers counted, Containers here at count and Count covered (after the ids)."
    ))
    for col, (title, _) in enumerate(SUMMARY_COLUMNS):
        sheet.write_string(SUMMARY_HEADER_ROW - 1, col, title, formats.bold)
    # Every row's formulas differ only in its row number: build them once.
    flows = [f"={movements.sumifs_template(category)}" if sign > 0 else f"=-({movements.sumifs_template(category)})"
             for _, category, sign, _ in S_FLOWS]
    column_formats = _summary_formats(formats)
    first = SUMMARY_HEADER_ROW + 1
    r = first  # the row's number in Excel (from 1)
    products: dict[int, ProductColumn] = {}
    for line in lines:
        figures = _summary_figures(line)
        _write_row(sheet, r - 1, _summary_row(line, r, flows, figures, suppliers.get((line.lot_id, line.clinic_id))),
                   column_formats, formats)
        product = products.get(line.product_id)
        if product is None:
            product = products[line.product_id] = ProductColumn(line.product_id, line.product, line.unit)
        product.add(figures)
        r += 1
    last = max(r - 1, first)
    sheet.autofilter(f"A{SUMMARY_HEADER_ROW}:{xl_col_to_name(len(SUMMARY_COLUMNS) - 1)}{last}")
    for column in (S_VARIANCE, S_SEALED_VARIANCE):
        _highlight_variances(sheet, column, first, last, formats)
    ordered = sorted(products.values(), key=lambda product: product.name)
    _write_product_totals(sheet, formats, ordered, first, last)
    return r - first, ordered


_FLOW_FIGURES = tuple(figure for *_, figure in S_FLOWS)


def _summary_figures(line: ReconciliationLine) -> tuple[Decimal | None, ...]:
    """The row's quantities, opening to variance (``S_SUMMED``), worked out as its formulas work them out:
    a formula's result is what the cell caches, and the products' totals add them up."""
    flows = [getattr(line, figure) for figure in _FLOW_FIGURES]
    received, drawn, wasted, adjusted, transfers_in, transfers_out, returned = flows
    closing = line.opening + received - drawn - wasted + adjusted + transfers_in - transfers_out - returned
    # IF(counted="","",counted-expected): a blank expected counts as 0 in Excel's subtraction.
    variance = None if line.counted is None else line.counted - (line.expected_at_count or ZERO)
    return (line.opening, *flows, closing, line.in_transit_at_end, line.counted, line.expected_at_count, variance)


def _summary_row(
    line: ReconciliationLine, r: int, flows: list[str], figures: tuple[Decimal | None, ...], supplier: str | None,
) -> tuple[Any, ...]:
    """The row's cells: each formula with its result, from ``figures`` (``_summary_figures``)."""
    row = str(r)
    counted_at = to_clinic_time(line.counted_at, line.timezone).replace(tzinfo=None) if line.counted_at else None
    sealed_variance = (None if line.sealed_counted is None
                       else line.sealed_counted - (line.sealed_expected_at_count or 0))
    closing, variance = figures[8], figures[12]
    return (
        line.product, line.unit, line.lot, line.expiry, line.clinic, line.location, line.opening,
        *(Formula(flow.replace(_ROW, row), _result(value)) for flow, value in zip(flows, figures[1:8])),
        Formula(_CLOSING.format(o=S_OPENING, r=r), _result(closing)),
        line.in_transit_at_end, line.counted, line.expected_at_count,
        Formula(f'=IF({S_COUNTED}{r}="","",{S_COUNTED}{r}-{S_EXPECTED_AT_COUNT}{r})', _result(variance)),
        line.count_id, counted_at,
        line.sealed_opening, line.sealed_closing, line.sealed_counted, line.sealed_expected_at_count,
        Formula(f'=IF({S_SEALED_COUNTED}{r}="","",{S_SEALED_COUNTED}{r}-{S_SEALED_EXPECTED}{r})',
                _result(sealed_variance)),
        line.product_id, line.lot_id, line.location_id,
        line.containers_counted, line.containers_at_count,
        count_coverage_note(line.containers_counted, line.containers_at_count), supplier or "not recorded",
    )


def product_totals_first_row(summary_rows: int) -> int:
    """Where the per-product totals start: after the table, a blank row, a title and a header."""
    return SUMMARY_HEADER_ROW + max(summary_rows, 1) + 4


def _write_product_totals(
    sheet: Worksheet, formats: _Formats, products: list[ProductColumn], first: int, last: int,
) -> None:
    """The totals per product below the table (``first`` and ``last`` are its rows, from 1)."""
    top = last  # the blank row after the table, counted from 0
    sheet.write_string(top + 1, 0, "Totals per product (each in its own unit; never added across products)",
                       formats.bold)
    titles = ("Product", "Unit", None, None, None, None, *(t for t, _ in SUMMARY_COLUMNS[6:6 + len(S_SUMMED)]),
              *TOTALS_ROW_TITLES)
    for col, title in enumerate(titles):
        if title:
            sheet.write_string(top + 2, col, title, formats.bold)
    column_formats = (None,) * 6 + (formats.qty,) * len(S_SUMMED) + (None,) * len(TOTALS_ROW_TITLES)
    products_range = f"{S_PRODUCT_ID}${first}:{S_PRODUCT_ID}${last}"
    counted_range = f"{S_COUNTED}${first}:{S_COUNTED}${last}"
    for row, product in enumerate(products, start=top + 3):
        # Rows of this product with a counted quantity ("<>": not blank; a row without a count leaves it blank).
        rows_counted = f'COUNTIFS({products_range},{product.id},{counted_range},"<>")'
        sums = []
        for column, total in zip(S_SUMMED, product.sums, strict=True):
            summed = f"SUMIFS({column}${first}:{column}${last},{products_range},{product.id})"
            if column in S_COUNT_SUMMED:
                sums.append(Formula(f'=IF({rows_counted}=0,"",{summed})',
                                    float(total) if product.rows_counted else ""))
            else:
                sums.append(Formula(f"={summed}", float(total)))
        _write_row(sheet, row, (
            product.name, product.unit, None, None, None, None, *sums,
            Formula(f"={rows_counted}", product.rows_counted),
            Formula(f"=COUNTIFS({products_range},{product.id})", product.rows),
            product.counted_note,
        ), column_formats, formats)


# --- the Variances sheet --------------------------------------------------------------------

VARIANCE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Count", 8), ("Counted at (clinic time)", 21), ("Posted at (clinic time)", 21), ("Counted by", 18),
    ("Approved by", 18), ("Clinic", 10), ("Location", 16), ("Product", 30), ("Unit", 7), ("Lot", 14),
    ("Container", 14), ("Counted", 11), ("Expected", 11), ("Variance", 11), ("Sealed counted", 14),
    ("Sealed expected", 15), ("Sealed variance", 15),
)


def _write_variances(
    session: Session, sheet: Worksheet, formats: _Formats, clinics: list[Clinic], period: Period,
    location_id: int | None, chunk: int,
) -> None:
    _prepare(sheet, VARIANCE_COLUMNS, formats, freeze="A2")
    column_formats = (None, formats.when, formats.when, *(None,) * 8, *(formats.qty,) * 3, None, None, None)
    r = 1  # the last row written, from 1
    for clinic in clinics:
        zone = ZoneInfo(clinic.timezone)

        def local(moment: dt.datetime | None, zone: ZoneInfo = zone) -> dt.datetime | None:
            return moment.astimezone(zone).replace(tzinfo=None) if moment else None

        for line in session.execute(count_lines_stmt(clinic, period, location_id),
                                    execution_options={"yield_per": chunk}):
            r += 1
            sealed = (None if line.containers_counted is None or line.expected_containers is None
                      else line.containers_counted - line.expected_containers)
            _write_row(sheet, r - 1, (
                line.count_id, local(line.counted_at), local(line.posted_at), line.counted_by, line.approved_by,
                clinic.code, line.location, line.product, line.base_unit, line.lot,
                line.label_code or "sealed, by lot", line.counted, line.expected,
                Formula(f"=L{r}-M{r}", float((line.counted or 0) - (line.expected or 0))),
                line.containers_counted, line.expected_containers,
                Formula(f'=IF(OR(O{r}="",P{r}=""),"",O{r}-P{r})', _result(sealed)),
            ), column_formats, formats)
    last = max(r, 2)
    sheet.autofilter(f"A1:{xl_col_to_name(len(VARIANCE_COLUMNS) - 1)}{last}")
    for column in ("N", "Q"):
        _highlight_variances(sheet, column, 2, last, formats)


# --- the Usage sheet ---------------------------------------------------------------------------

USAGE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Month", 9), ("Product", 30), ("Unit", 7), ("Injector", 20), ("Used", 11), ("", 3), ("", 3),
)
USAGE_MATRIX_COLUMN = 8  # H: months down, one column per product


def _write_usage(workbook: Workbook, sheet: Worksheet, formats: _Formats, rows: list[UsageRow],
                 period: Period) -> None:
    months = [label for label, _, _ in period.months("UTC")]
    products = sorted({row.product.id: row.product for row in rows}.values(), key=lambda p: p.name)
    matrix: dict[tuple[str, int], Decimal] = {}
    for row in rows:
        matrix[(row.month, row.product.id)] = matrix.get((row.month, row.product.id), Decimal(0)) + row.quantity
    widths = list(USAGE_COLUMNS) + [("Month", 9)] + [(p.name, 16) for p in products]
    _prepare(sheet, tuple(widths), formats, freeze="A2", header=False)
    header = [t for t, _ in USAGE_COLUMNS[:5]] + [None, None, "Month"]
    header += [f"{p.name} ({p.base_unit})" for p in products]
    _write_row(sheet, 0, header, (formats.bold,) * len(header), formats)
    column_formats = (None, None, None, None, formats.qty, None, None, None, *(formats.qty,) * len(products))
    height = max(len(rows), len(months))
    for i in range(height):
        cells: list[Any] = [None] * 7
        if i < len(rows):
            row = rows[i]
            cells[:5] = [row.month, row.product.name, row.product.base_unit, row.injector.label, row.quantity]
        if i < len(months):
            cells.append(months[i])
            cells += [matrix.get((months[i], p.id), Decimal(0)) for p in products]
        _write_row(sheet, i + 1, cells, column_formats, formats)
    sheet.autofilter(f"A1:E{max(len(rows) + 1, 2)}")
    matrix_col = USAGE_MATRIX_COLUMN - 1  # from 0
    for n, product in enumerate(products[:MAX_USAGE_CHARTS]):
        column = matrix_col + 1 + n
        chart = workbook.add_chart({"type": "column"})
        chart.add_series({
            "name": [sheet.name, 0, column],
            "categories": [sheet.name, 1, matrix_col, len(months), matrix_col],
            "values": [sheet.name, 1, column, len(months), column],
        })
        chart.set_title({"name": f"{product.name}: used per month ({product.base_unit})"})
        chart.set_y_axis({"name": product.base_unit})
        chart.set_x_axis({"name": "Month"})
        chart.set_legend({"none": True})
        chart.set_size({"width": CHART_WIDTH_PX, "height": CHART_HEIGHT_PX})
        anchor_row = len(months) + 2 + n * 16  # from 0: two rows below the months
        sheet.insert_chart(anchor_row, matrix_col, chart)


# --- the workbook ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkbookResult:
    movement_sheets: tuple[str, ...]
    movement_rows: int
    summary_rows: int  # reconciliation rows on the Summary
    products: tuple[ProductColumn, ...]  # in the per-product totals, in their order


def write_workbook(
    session: Session,
    out: IO[bytes],
    *,
    scope: Scope,
    period: Period,
    now: dt.datetime,
    location_id: int | None = None,
    max_rows: int = EXCEL_MAX_ROWS,
    chunk: int = CHUNK_ROWS,
) -> WorkbookResult:
    """Writes the reconciliation workbook to ``out`` (a binary file). Raises NotFound."""
    clinics, location = clinics_and_location(session, scope, location_id)
    where = where_text(clinics, location)
    # The sheets' rows wait in temporary files until the workbook is zipped: in a directory of our own,
    # removed even when the export fails halfway.
    with tempfile.TemporaryDirectory(prefix="vialog-export-") as tmpdir:
        workbook = Workbook(out, {**_WORKBOOK_OPTIONS, "tmpdir": tmpdir})
        workbook.set_properties({
            "title": f"Vialog reconciliation {period}", "subject": where,
            "author": "Vialog",  # the creator and the last to modify
            "created": now.astimezone(dt.UTC).replace(tzinfo=None),  # created and modified (naive UTC)
        })
        formats = _Formats.of(workbook)
        summary = workbook.add_worksheet("Summary", _Worksheet)
        movements = _MovementSheets(workbook, formats, max_rows)
        # Movements first: the Summary's formulas must know every movements sheet and its last row.
        written = _write_movements(session, movements, clinics, period, location_id, chunk)
        variances = workbook.add_worksheet("Variances", _Worksheet)  # after the last movements sheet
        usage_sheet = workbook.add_worksheet("Usage", _Worksheet)
        suppliers = suppliers_of(session, clinic_ids=[clinic.id for clinic in clinics])
        lines = reconciliation_lines(session, clinics=clinics, period=period, location_id=location_id, chunk=chunk)
        shown, products = _write_summary(summary, formats, lines, movements, clinics=clinics, where=where,
                                         period=period, now=now, suppliers=suppliers)
        _write_variances(session, variances, formats, clinics, period, location_id, chunk)
        _write_usage(workbook, usage_sheet, formats, usage(session, scope=scope, period=period,
                                                           location_id=location_id), period)
        workbook.close()
    return WorkbookResult(tuple(part.title for part in movements.parts), written, shown, tuple(products))


def workbook_filename(period: Period, clinics: Sequence[Clinic] = (), location: Location | None = None) -> str:
    """``vialog-reconciliation-LON-2026-06-01_2026-06-30.xlsx``: see ``_download_name``."""
    return _download_name(period, clinics, location, "xlsx")


def _download_name(period: Period, clinics: Sequence[Clinic], location: Location | None, extension: str) -> str:
    """A download's file name: the period and what the report covers (the location's clinic code and name, else
    the clinics' codes, or how many clinics past a few), so that downloads of different clinics or places never
    overwrite each other. ASCII letters, digits, hyphens and underscores only: safe in a header and on any disk.
    Without the clinics, the name of the period alone."""
    dates = f"{period.start.isoformat()}_{period.end.isoformat()}"
    # A code or name with no ASCII letter or digit is named by its id, never left out: two reports never share a name.
    if location is not None:
        words = [_file_word(location.clinic.code) or f"clinic-{location.clinic_id}",
                 _file_word(location.name) or f"location-{location.id}"]
    elif len(clinics) <= _CLINICS_NAMED:
        words = [_file_word(clinic.code) or f"clinic-{clinic.id}" for clinic in clinics]
    else:
        words = [f"{len(clinics)}-clinics"]
    if not words:  # what callers that name no clinic have always had
        return f"vialog-reconciliation-{period.start.isoformat()}-{period.end.isoformat()}.{extension}"
    return f"vialog-reconciliation-{'-'.join(words)}-{dates}.{extension}"


# Clinics named in a download's file name; past them it says how many.
_CLINICS_NAMED = 3
_NOT_FILE_WORD = re.compile(r"[^A-Za-z0-9]+")


def _file_word(text: str) -> str:
    """``text`` in ASCII letters and digits, hyphens between (accents dropped: "Salle réveil" is Salle-reveil),
    at most 40 characters; empty when nothing of it is."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_FILE_WORD.sub("-", ascii_text).strip("-")[:40].strip("-")


# --- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "product", "unit", "lot", "expiry", "clinic", "location", "opening", "received", "drawn", "wasted", "adjusted",
    "transfers_in", "transfers_out", "returned", "expected_closing", "counted", "expected_at_count", "variance",
    "count_id", "counted_at", "sealed_at_start", "sealed_at_end", "sealed_counted", "sealed_expected_at_count",
    "sealed_variance", "product_id", "lot_id", "location_id", "in_transit_at_end", "containers_counted",
    "containers_at_count", "count_covered", "supplier",
)
# The CSV's columns holding a moment: written in the clinic's time, their header naming the zone.


def _csv_time(moment: dt.datetime | None, timezone: str) -> str:
    """A moment as the clinic's wall clock with its offset (2026-12-04T14:29:55-05:00), as the workbook shows it."""
    return "" if moment is None else to_clinic_time(moment, timezone).isoformat()


def csv_rows(rec: Reconciliation) -> Iterator[list[str]]:
    """The Summary's rows as computed values, text guarded against formula injection; times in clinic time."""
    # The columns keep their names (programs read them by name); each time carries its clinic's offset.
    yield list(CSV_COLUMNS)
    for row in rec.rows:
        yield [
            _csv_text(row.product.name), row.unit, _csv_text(row.lot.number), row.lot.expiry.isoformat(),
            _csv_text(row.clinic.code), _csv_text(row.location.name),
            *(_qty(getattr(row, name)) for name in (
                "opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned",
                "expected_closing", "counted", "expected_at_count", "variance",
            )),
            "" if row.count_id is None else str(row.count_id),
            _csv_time(row.counted_at, row.clinic.timezone),
            str(row.sealed_opening), str(row.sealed_closing), _int(row.sealed_counted),
            _int(row.sealed_expected_at_count), _int(row.sealed_variance),
            str(row.product.id), str(row.lot.id), str(row.location.id), _qty(row.in_transit_at_end),
            _int(row.containers_counted), _int(row.containers_at_count), row.count_coverage_note or "",
            _csv_text(row.supplier or "not recorded"),
        ]


def write_csv(rec: Reconciliation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(csv_rows(rec))
    return buffer.getvalue()


def csv_filename(period: Period, clinics: Sequence[Clinic] = (), location: Location | None = None) -> str:
    """``vialog-reconciliation-LON-2026-06-01_2026-06-30.csv``: see ``_download_name``."""
    return _download_name(period, clinics, location, "csv")


def _csv_text(value: str) -> str:
    value = writable_text(value)
    return "'" + value if is_formula_like(value) else value


def _qty(value: Decimal | None) -> str:
    return "" if value is None else plain_quantity(value)


def _int(value: int | None) -> str:
    return "" if value is None else str(value)



# --- who exported what ------------------------------------------------------------------------------


def record_export(
    session: Session, *, actor: Any, period: Period, location_id: int | None, kind: str, now: dt.datetime,
    clinic_id: int | None = None,
) -> None:
    """An audit event for every export: what left the system, when, and who took it (``clinic_id``: the one
    clinic a chain-level user asked for; None with ``location_id`` None, all of theirs)."""
    from inventory.models import AuditEvent

    session.add(AuditEvent(
        at=now, actor_id=actor.id, action="reconciliation.exported", object_type="report",
        object_id=kind, details={"from": period.start.isoformat(), "to": period.end.isoformat(),
                                 "location_id": location_id, "clinic_id": clinic_id, "format": kind},
    ))
