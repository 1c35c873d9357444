"""The reconciliation as an Excel workbook an auditor can check by hand, and as CSV.

The workbook is written in openpyxl's write-only mode (lxml makes it faster where it
is installed) while rows stream from the database in chunks: ledger rows, the
reconciliation's rows (plain tuples, written as they come, never held together) and
count lines. A year of a large chain stays within modest memory. Its sheets:

- **Summary**: one row per product, lot and location. Opening, counted and expected
  at count are values from Vialog; every period total is a live SUMIFS formula over
  the Movements sheet(s), so Excel or LibreOffice recomputes them from the ledger
  rows; expected closing and the variances are formulas too. Totals per product
  follow below the table (never across products).
- **Movements** (and "Movements (2)", ... past the row limit): every ledger row of
  the period, in the clinic's time zone.
- **Variances**: every line of every count posted in the period.
- **Usage**: units or mL drawn per product per month and per injector, with charts.

Text typed by people (names, notes, lot numbers) that starts with ``= + - @`` is
written as text with Excel's quote prefix, so it can never run as a formula; in the
CSV it is prefixed with an apostrophe (the usual CSV-injection guard).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.orm import Session

from inventory.models import Clinic
from inventory.models.base import plain_quantity
from inventory.services.clock import to_clinic_time
from inventory.services.permissions import Scope
from inventory.validators import writable_text
from inventory.reconciliation.service import (
    CATEGORY,
    Period,
    Reconciliation,
    ReconciliationLine,
    UsageRow,
    clinics_and_location,
    count_lines_stmt,
    movements_stmt,
    reconciliation_lines,
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
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_VARIANCE_FILL = PatternFill(start_color="FDE8E7", end_color="FDE8E7", fill_type="solid")


def is_formula_like(text: str) -> bool:
    return text.startswith(_FORMULA_STARTS)


# --- the Movements sheet(s) ---------------------------------------------------------------

# (header, width); the letters matter: the Summary's formulas name them.
MOVEMENT_COLUMNS: tuple[tuple[str, float], ...] = (
    ("When (clinic time)", 20), ("Clinic", 10), ("Location", 16), ("Product", 30), ("Unit", 7), ("Lot", 14),
    ("Container", 12), ("Kind", 13), ("Counts as", 13), ("Quantity", 11), ("Who", 18), ("Reason", 18),
    ("Note", 30), ("Treatment", 10), ("Movement", 10), ("Reverses", 10), ("Lot id", 8), ("Location id", 11),
)
M_QTY, M_CATEGORY, M_LOT_ID, M_LOCATION_ID = "J", "I", "Q", "R"
# Each column's number format: "When" is a date and time, "Quantity" a quantity.
MOVEMENT_FORMATS: tuple[str | None, ...] = (WHEN_FORMAT, *(None,) * 8, QTY_FORMAT, *(None,) * 8)
_ROW = "{row}"  # where a formula template takes its Summary row's number


@dataclass
class _SheetPart:
    title: str
    sheet: WriteOnlyWorksheet
    rows: int = 1  # the header

    @property
    def last_row(self) -> int:
        # An empty sheet still gives the formulas a valid (header-only, never matching) range.
        return max(self.rows, 2)


@dataclass
class _MovementSheets:
    """Movements, continued on "Movements (2)", ... when a sheet reaches ``max_rows``."""

    workbook: Workbook
    max_rows: int
    parts: list[_SheetPart] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_rows < 2:
            raise ValueError("a movements sheet needs room for its header and one row")
        self._new_part()

    def _new_part(self) -> None:
        if self.parts:
            title = f"Movements ({len(self.parts) + 1})"
            index = self.workbook.sheetnames.index(self.parts[-1].title) + 1
        else:
            title, index = "Movements", None
        sheet = self.workbook.create_sheet(title, index)
        _prepare(sheet, MOVEMENT_COLUMNS, freeze="A2")
        self.parts.append(_SheetPart(title, sheet))

    def append(self, values: Sequence[Any]) -> None:
        part = self.parts[-1]
        if part.rows >= self.max_rows:
            self._new_part()
            part = self.parts[-1]
        _append_cells(part.sheet, MOVEMENT_FORMATS, values)
        part.rows += 1

    def finish(self) -> None:
        last = get_column_letter(len(MOVEMENT_COLUMNS))
        for part in self.parts:
            part.sheet.auto_filter.ref = f"A1:{last}{part.rows}"

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
        for m in session.execute(stmt, execution_options={"yield_per": chunk}):
            sheets.append((
                m.at.astimezone(zone).replace(tzinfo=None), clinic.code, m.location, m.product, m.base_unit,
                m.lot, m.label_code, m.kind.value, CATEGORY[m.category], m.quantity, m.who, m.reason, m.note,
                m.treatment_id, m.id, m.reverses_id, m.lot_id, m.location_id,
            ))
            written += 1
    sheets.finish()
    return written


# --- rows of plain values ---------------------------------------------------------------------------


class Formula(str):
    """A cell's formula ("=..."): never taken for text that only looks like one."""


def _append_cells(sheet: WriteOnlyWorksheet, formats: Sequence[str | None], values: Sequence[Any]) -> None:
    """One row of plain values (a ``Formula`` for a formula) under its columns' number formats.

    Text is always text (``_text``); a value gets a cell of its own only where its column has
    a number format, so most of a row goes to openpyxl as plain values.
    """
    sheet.append([
        value if value is None or isinstance(value, Formula)
        else _text(sheet, value) if isinstance(value, str)
        else _cell(sheet, value, fmt) if fmt
        else value
        for fmt, value in zip(formats, values, strict=True)
    ])


# --- the Summary sheet -------------------------------------------------------------------------

SUMMARY_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Product", 30), ("Unit", 7), ("Lot", 14), ("Expiry", 11), ("Clinic", 10), ("Location", 16),
    ("Opening", 11), ("Received", 11), ("Drawn", 11), ("Wasted", 11), ("Adjusted", 11), ("Transfers in", 12),
    ("Transfers out", 13), ("Returned", 11), ("Expected closing", 16), ("Counted", 11), ("Expected at count", 17),
    ("Variance", 11), ("Count", 8), ("Counted at (clinic time)", 21), ("Sealed at start", 14),
    ("Sealed at end", 13), ("Sealed counted", 14), ("Sealed expected at count", 22), ("Sealed variance", 15),
    ("Product id", 10), ("Lot id", 8), ("Location id", 11),
)
SUMMARY_HEADER_ROW = 4
S_FIRST_FLOW = "H"
S_FLOWS = (  # (column, category, sign in the cell)
    ("H", "received", 1), ("I", "drawn", -1), ("J", "wasted", -1), ("K", "adjusted", 1),
    ("L", "transfer in", 1), ("M", "transfer out", -1), ("N", "returned", -1),
)
S_OPENING, S_EXPECTED, S_COUNTED, S_EXPECTED_AT_COUNT, S_VARIANCE = "G", "O", "P", "Q", "R"
S_SEALED_COUNTED, S_SEALED_EXPECTED, S_SEALED_VARIANCE = "W", "X", "Y"
S_PRODUCT_ID, S_LOT_ID, S_LOCATION_ID = "$Z", "$AA", "$AB"
# Each column's number format: expiry a date, opening to variance quantities, counted at a date and time.
SUMMARY_FORMATS: tuple[str | None, ...] = (
    None, None, None, DATE_FORMAT, None, None, *(QTY_FORMAT,) * 12, None, WHEN_FORMAT, *(None,) * 8,
)
# The expected closing, as a formula of the row's own cells.
_CLOSING = "={o}{r}+H{r}-I{r}-J{r}+K{r}+L{r}-M{r}-N{r}"


@dataclass(frozen=True)
class ProductColumn:
    """A product in the per-product totals under the Summary's table."""

    id: int
    name: str
    unit: str


def _write_summary(
    sheet: WriteOnlyWorksheet, lines: Iterable[ReconciliationLine], movements: _MovementSheets, *,
    clinics: list[Clinic], where: str, period: Period, now: dt.datetime,
) -> tuple[int, list[ProductColumn]]:
    """Writes each reconciliation row as it streams in; returns how many, and the products seen."""
    _prepare(sheet, SUMMARY_COLUMNS, freeze=f"C{SUMMARY_HEADER_ROW + 1}", header=False)
    zone = clinics[0].timezone if len(clinics) == 1 else "UTC"
    sheet.append([_styled(sheet, "Vialog reconciliation", font=_TITLE)])
    sheet.append([
        _text(sheet, f"{period} (dates in each clinic's own time zone) · {where} · "
                     f"made {to_clinic_time(now, zone):%Y-%m-%d %H:%M} {zone}")
    ])
    sheet.append([(
        "Period totals are SUMIFS formulas over the Movements sheet(s); opening, counted and expected at count "
        "are Vialog's figures. A reversed draw or waste reduces drawn or wasted. Units of different products are "
        "never added."
    )])
    sheet.append([_styled(sheet, title, font=_BOLD) for title, _ in SUMMARY_COLUMNS])
    # Every row's formulas differ only in its row number: build them once.
    flows = [f"={movements.sumifs_template(category)}" if sign > 0 else f"=-({movements.sumifs_template(category)})"
             for _, category, sign in S_FLOWS]
    first = SUMMARY_HEADER_ROW + 1
    r = first
    products: dict[int, ProductColumn] = {}
    for line in lines:
        _append_cells(sheet, SUMMARY_FORMATS, _summary_row(line, r, flows))
        if line.product_id not in products:
            products[line.product_id] = ProductColumn(line.product_id, line.product, line.unit)
        r += 1
    last = max(r - 1, first)
    sheet.auto_filter.ref = f"A{SUMMARY_HEADER_ROW}:{get_column_letter(len(SUMMARY_COLUMNS))}{last}"
    for column in (S_VARIANCE, S_SEALED_VARIANCE):
        sheet.conditional_formatting.add(
            f"{column}{first}:{column}{last}",
            FormulaRule(formula=[f"AND(ISNUMBER({column}{first}),{column}{first}<>0)"], fill=_VARIANCE_FILL,
                        font=_BOLD),
        )
    ordered = sorted(products.values(), key=lambda product: product.name)
    _write_product_totals(sheet, ordered, first, last)
    return r - first, ordered


def _summary_row(line: ReconciliationLine, r: int, flows: list[str]) -> tuple[Any, ...]:
    row = str(r)
    counted_at = to_clinic_time(line.counted_at, line.timezone).replace(tzinfo=None) if line.counted_at else None
    return (
        line.product, line.unit, line.lot, line.expiry, line.clinic, line.location, line.opening,
        *(Formula(flow.replace(_ROW, row)) for flow in flows),
        Formula(_CLOSING.format(o=S_OPENING, r=r)),
        line.counted, line.expected_at_count,
        Formula(f'=IF({S_COUNTED}{r}="","",{S_COUNTED}{r}-{S_EXPECTED_AT_COUNT}{r})'),
        line.count_id, counted_at,
        line.sealed_opening, line.sealed_closing, line.sealed_counted, line.sealed_expected_at_count,
        Formula(f'=IF({S_SEALED_COUNTED}{r}="","",{S_SEALED_COUNTED}{r}-{S_SEALED_EXPECTED}{r})'),
        line.product_id, line.lot_id, line.location_id,
    )


def product_totals_first_row(summary_rows: int) -> int:
    """Where the per-product totals start: after the table, a blank row, a title and a header."""
    return SUMMARY_HEADER_ROW + max(summary_rows, 1) + 4


def _write_product_totals(sheet: WriteOnlyWorksheet, products: list[ProductColumn], first: int, last: int) -> None:
    sheet.append([])
    sheet.append([_styled(sheet, "Totals per product (each in its own unit; never added across products)",
                          font=_BOLD)])
    titles = ("Product", "Unit", None, None, None, None, *(t for t, _ in SUMMARY_COLUMNS[6:18]))
    sheet.append([None if title is None else _styled(sheet, title, font=_BOLD) for title in titles])
    summed = "GHIJKLMNOPQR"
    for product in products:
        cells: list[Any] = [_text(sheet, product.name), product.unit, None, None, None, None]
        for column in summed:
            cells.append(_cell(
                sheet,
                f"=SUMIFS({column}${first}:{column}${last},{S_PRODUCT_ID}${first}:{S_PRODUCT_ID}${last},"
                f"{product.id})",
                QTY_FORMAT,
            ))
        sheet.append(cells)


# --- the Variances sheet --------------------------------------------------------------------

VARIANCE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Count", 8), ("Counted at (clinic time)", 21), ("Posted at (clinic time)", 21), ("Counted by", 18),
    ("Approved by", 18), ("Clinic", 10), ("Location", 16), ("Product", 30), ("Unit", 7), ("Lot", 14),
    ("Container", 14), ("Counted", 11), ("Expected", 11), ("Variance", 11), ("Sealed counted", 14),
    ("Sealed expected", 15), ("Sealed variance", 15),
)


def _write_variances(
    session: Session, sheet: WriteOnlyWorksheet, clinics: list[Clinic], period: Period, location_id: int | None,
    chunk: int,
) -> None:
    _prepare(sheet, VARIANCE_COLUMNS, freeze="A2")
    r = 1
    for clinic in clinics:
        zone = ZoneInfo(clinic.timezone)

        def local(moment: dt.datetime | None, zone: ZoneInfo = zone) -> dt.datetime | None:
            return moment.astimezone(zone).replace(tzinfo=None) if moment else None

        for line in session.execute(count_lines_stmt(clinic, period, location_id),
                                    execution_options={"yield_per": chunk}):
            r += 1
            sheet.append([
                line.count_id, _cell(sheet, local(line.counted_at), WHEN_FORMAT),
                _cell(sheet, local(line.posted_at), WHEN_FORMAT), _text(sheet, line.counted_by),
                _text(sheet, line.approved_by), _text(sheet, clinic.code), _text(sheet, line.location),
                _text(sheet, line.product), line.base_unit, _text(sheet, line.lot),
                line.label_code or "sealed, by lot",
                _cell(sheet, line.counted, QTY_FORMAT), _cell(sheet, line.expected, QTY_FORMAT),
                _cell(sheet, f"=L{r}-M{r}", QTY_FORMAT),
                line.containers_counted, line.expected_containers,
                f'=IF(OR(O{r}="",P{r}=""),"",O{r}-P{r})',
            ])
    last = max(r, 2)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(VARIANCE_COLUMNS))}{last}"
    for column in ("N", "Q"):
        sheet.conditional_formatting.add(
            f"{column}2:{column}{last}",
            FormulaRule(formula=[f"AND(ISNUMBER({column}2),{column}2<>0)"], fill=_VARIANCE_FILL, font=_BOLD),
        )


# --- the Usage sheet ---------------------------------------------------------------------------

USAGE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Month", 9), ("Product", 30), ("Unit", 7), ("Injector", 20), ("Used", 11), ("", 3), ("", 3),
)
USAGE_MATRIX_COLUMN = 8  # H: months down, one column per product


def _write_usage(sheet: WriteOnlyWorksheet, rows: list[UsageRow], period: Period) -> None:
    months = [label for label, _, _ in period.months("UTC")]
    products = sorted({row.product.id: row.product for row in rows}.values(), key=lambda p: p.name)
    matrix: dict[tuple[str, int], Decimal] = {}
    for row in rows:
        matrix[(row.month, row.product.id)] = matrix.get((row.month, row.product.id), Decimal(0)) + row.quantity
    widths = list(USAGE_COLUMNS) + [("Month", 9)] + [(p.name, 16) for p in products]
    _prepare(sheet, tuple(widths), freeze="A2", header=False)
    header = [_styled(sheet, t, font=_BOLD) for t, _ in USAGE_COLUMNS[:5]] + [None, None]
    header += [_styled(sheet, "Month", font=_BOLD)]
    header += [_styled(sheet, f"{p.name} ({p.base_unit})", font=_BOLD) for p in products]
    sheet.append(header)
    height = max(len(rows), len(months))
    for i in range(height):
        cells: list[Any] = [None] * 7
        if i < len(rows):
            row = rows[i]
            cells[:5] = [row.month, _text(sheet, row.product.name), row.product.base_unit,
                         _text(sheet, row.injector.label), _cell(sheet, row.quantity, QTY_FORMAT)]
        if i < len(months):
            cells.append(months[i])
            cells += [_cell(sheet, matrix.get((months[i], p.id), Decimal(0)), QTY_FORMAT) for p in products]
        sheet.append(cells)
    sheet.auto_filter.ref = f"A1:E{max(len(rows) + 1, 2)}"
    for n, product in enumerate(products[:MAX_USAGE_CHARTS]):
        column = USAGE_MATRIX_COLUMN + 1 + n
        chart = BarChart()
        chart.title = f"{product.name}: used per month ({product.base_unit})"
        chart.y_axis.title = product.base_unit
        chart.x_axis.title = "Month"
        chart.legend = None
        chart.add_data(Reference(sheet, min_col=column, min_row=1, max_row=len(months) + 1), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=USAGE_MATRIX_COLUMN, min_row=2, max_row=len(months) + 1))
        chart.width, chart.height = 16, 7.5
        anchor_row = len(months) + 3 + n * 16
        sheet.add_chart(chart, f"{get_column_letter(USAGE_MATRIX_COLUMN)}{anchor_row}")


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
    workbook = Workbook(write_only=True)
    workbook.properties.title = f"Vialog reconciliation {period}"
    workbook.properties.subject = where
    workbook.properties.creator = "Vialog"
    workbook.properties.lastModifiedBy = "Vialog"
    workbook.properties.created = now.astimezone(dt.UTC).replace(tzinfo=None)
    workbook.properties.modified = workbook.properties.created
    summary = workbook.create_sheet("Summary")
    movements = _MovementSheets(workbook, max_rows)
    variances = workbook.create_sheet("Variances")
    usage_sheet = workbook.create_sheet("Usage")
    # Movements first: the Summary's formulas must know every movements sheet and its last row.
    written = _write_movements(session, movements, clinics, period, location_id, chunk)
    lines = reconciliation_lines(session, clinics=clinics, period=period, location_id=location_id, chunk=chunk)
    shown, products = _write_summary(summary, lines, movements, clinics=clinics, where=where, period=period, now=now)
    _write_variances(session, variances, clinics, period, location_id, chunk)
    _write_usage(usage_sheet, usage(session, scope=scope, period=period, location_id=location_id), period)
    workbook.save(out)
    return WorkbookResult(tuple(part.title for part in movements.parts), written, shown, tuple(products))


def workbook_filename(period: Period) -> str:
    return f"vialog-reconciliation-{period.start.isoformat()}-{period.end.isoformat()}.xlsx"


# --- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "product", "unit", "lot", "expiry", "clinic", "location", "opening", "received", "drawn", "wasted", "adjusted",
    "transfers_in", "transfers_out", "returned", "expected_closing", "counted", "expected_at_count", "variance",
    "count_id", "counted_at", "sealed_at_start", "sealed_at_end", "sealed_counted", "sealed_expected_at_count",
    "sealed_variance", "product_id", "lot_id", "location_id",
)


def csv_rows(rec: Reconciliation) -> Iterator[list[str]]:
    """The Summary's rows as computed values, text guarded against formula injection."""
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
            row.counted_at.isoformat() if row.counted_at else "",
            str(row.sealed_opening), str(row.sealed_closing), _int(row.sealed_counted),
            _int(row.sealed_expected_at_count), _int(row.sealed_variance),
            str(row.product.id), str(row.lot.id), str(row.location.id),
        ]


def write_csv(rec: Reconciliation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(csv_rows(rec))
    return buffer.getvalue()


def csv_filename(period: Period) -> str:
    return f"vialog-reconciliation-{period.start.isoformat()}-{period.end.isoformat()}.csv"


def _csv_text(value: str) -> str:
    value = writable_text(value)
    return "'" + value if is_formula_like(value) else value


def _qty(value: Decimal | None) -> str:
    return "" if value is None else plain_quantity(value)


def _int(value: int | None) -> str:
    return "" if value is None else str(value)


# --- cells ------------------------------------------------------------------------------------------


def _prepare(
    sheet: WriteOnlyWorksheet, columns: Iterable[tuple[str, float]], *, freeze: str, header: bool = True
) -> None:
    """Column widths and frozen panes go before the first row in write-only mode."""
    columns = list(columns)
    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = freeze
    if header:
        sheet.append([_styled(sheet, title, font=_BOLD) for title, _ in columns])


def _cell(sheet: WriteOnlyWorksheet, value: Any, number_format: str) -> Any:
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


def _styled(sheet: WriteOnlyWorksheet, value: Any, *, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=writable_text(value) if isinstance(value, str) else value)
    cell.font = font
    return cell


def _text(sheet: WriteOnlyWorksheet, value: str | None) -> Any:
    """People's text, kept as text: a value that looks like a formula never becomes one, and characters
    XML cannot hold (in rows stored before inventory/validators.py refused them) become U+FFFD."""
    if value is None:
        return value
    value = writable_text(value)
    if not is_formula_like(value):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl made a leading "=" a formula: it is text
    cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    return cell


# --- who exported what ------------------------------------------------------------------------------


def record_export(
    session: Session, *, actor: Any, period: Period, location_id: int | None, kind: str, now: dt.datetime
) -> None:
    """An audit event for every export: what left the system, when, and who took it."""
    from inventory.models import AuditEvent

    session.add(AuditEvent(
        at=now, actor_id=actor.id, action="reconciliation.exported", object_type="report",
        object_id=kind, details={"from": period.start.isoformat(), "to": period.end.isoformat(),
                                 "location_id": location_id, "format": kind},
    ))
