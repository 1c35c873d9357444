"""The recall work lists as Excel workbooks (openpyxl) and CSV files.

Patient names, phone numbers, notes and references are typed by people and may start
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: a spreadsheet would run such
a cell as a formula (CSV injection, OWASP). In the workbook every text is a text cell
holding exactly what was stored, and one that looks like a formula also gets Excel's
quote prefix (as the reconciliation workbook does), so ``+44 20 7946 0000`` reads as
itself and ``=HYPERLINK(...)`` stays text even when the cell is edited. A CSV file has
no cell types: there such text is escaped with a leading ``'``. Numbers and dates are
written as themselves.

``export`` builds a file and records it in the access log (who, when, which list).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sqlalchemy.orm import Session

from inventory.cart.service import AREA_LABELS
from inventory.errors import ValidationError
from inventory.models import User
from inventory.reconciliation.export import is_formula_like
from inventory.services.clock import to_clinic_time
from inventory.services.permissions import Scope
from inventory.validators import writable_text
from recall import services
from recall.queries import DoseLine
from recall.services import CaseView

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A mimetype, not a content type: Flask's Response(mimetype=...) appends "; charset=utf-8" to every text/*
# type itself, so a charset here would be sent twice.
CSV_MIMETYPE = "text/csv"

PATIENT_HEADERS = (
    "Clinic", "Patient reference", "Patient name", "Date of birth", "Status", "Method", "Note", "Updated by",
    "Updated at (clinic time)", "Treatments (clinic time)", "Areas", "Received",
)
NOTIFICATION_HEADERS = (
    "Clinic", "Patient reference", "Patient name", "Date of birth", "Phone", "Email", "Address", "Lots",
    "Treatment dates (clinic time)", "Areas", "Received", "Status", "Method", "Updated by", "Note",
)
# Columns are only ever added at the end: integrations read them by position as well as by name.
CONTAINER_HEADERS = (
    "Clinic", "Location", "Label", "Lot", "State", "Remaining", "Unit", "Status", "Note", "Updated by",
    "Updated at (clinic time)", "Product",
)


LISTS = ("patients", "notifications", "containers")
FORMATS = ("xlsx", "csv")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    mimetype: str
    content: bytes


def export(session: Session, *, viewer: User, scope: Scope, case_id: int, which: str, fmt: str,
           now: dt.datetime) -> ExportFile:
    """A case's patient or container list, in the caller's clinics, as xlsx or csv; recorded in the access log.

    Raises NotFound or ValidationError (an unknown list or format).
    """
    if which not in LISTS or fmt not in FORMATS:
        raise ValidationError("Export the patients, notifications or containers list as xlsx or csv.", field="format")
    view = services.case_view(session, case_id, scope)
    sheet = {"patients": patient_sheet, "notifications": notification_sheet, "containers": container_sheet}[which](view)
    content = to_xlsx(sheet, view) if fmt == "xlsx" else to_csv(sheet)
    services.record_access(
        session, viewer=viewer, action=services.EXPORTED, object_type="recall_case", object_id=str(case_id),
        now=now, details={"list": which, "format": fmt, "rows": len(sheet.rows),
                          "patient_ids": [p.patient.id for p in view.patients] if which != "containers" else []},
    )
    stamp = to_clinic_time(now, "UTC").strftime("%Y%m%d-%H%M")
    return ExportFile(f"recall-{case_id}-{which}-{stamp}.{fmt}", XLSX_MIMETYPE if fmt == "xlsx" else CSV_MIMETYPE,
                      content)


def escape_cell(value: Any) -> Any:
    """A text value made safe for a CSV cell (no formula, no character XML cannot hold, whatever was stored
    before inventory/validators.py refused them); other values unchanged. The workbook uses _write_cell."""
    if not isinstance(value, str):
        return value
    value = writable_text(value)
    if is_formula_like(value):
        return "'" + value
    return value


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: Sequence[str]
    rows: list[list[Any]]


def patient_sheet(view: CaseView) -> Sheet:
    rows = []
    for line in view.patients:
        tz = line.clinic.timezone
        given = [d for d in line.doses if not d.is_reversed]
        rows.append([
            line.clinic.code, line.patient.external_ref, line.patient.name, line.patient.date_of_birth,
            line.line.status.value, line.line.method.value if line.line.method else "", line.note or "",
            line.line.updated_by.label if line.line.updated_by else "",
            _local(line.line.updated_at, tz),
            ", ".join(dict.fromkeys(d.local_at.strftime("%Y-%m-%d %H:%M") for d in given)),
            # In the cart's words, as the notification list says them, parted by semicolons for the same reason.
            "; ".join(dict.fromkeys(_area(d) for d in given)),
            "; ".join(f"{d.product} lot {d.lot_number}: {_qty(d.quantity)} {d.base_unit}" for d in given),
        ])
    return Sheet(f"Recall {view.case.id} patients", PATIENT_HEADERS, rows)


def notification_sheet(view: CaseView) -> Sheet:
    """Whom to contact and how, and what they received: the list a clinic works through (or mails from)."""
    rows = []
    for line in view.patients:
        contact = line.line.patient
        given = [d for d in line.doses if not d.is_reversed]
        rows.append([
            line.clinic.code, line.patient.external_ref, line.patient.name, line.patient.date_of_birth,
            contact.phone or "", contact.email or "", contact.address or "",
            ", ".join(dict.fromkeys(f"{d.product} {d.lot_number}" for d in given)),
            ", ".join(dict.fromkeys(d.local_at.strftime("%Y-%m-%d") for d in given)),
            # An area's words may hold a comma ("Crow's feet, left"): areas are parted by semicolons.
            "; ".join(dict.fromkeys(_area(d) for d in given)),
            # Each quantity names its product: units of one brand are not another's (DOMAIN.md).
            "; ".join(f"{d.product}: {_qty(d.quantity)} {d.base_unit} in {_area(d)}" for d in given),
            line.line.status.value, line.line.method.value if line.line.method else "",
            line.line.updated_by.label if line.line.updated_by else "", line.note or "",
        ])
    return Sheet(f"Recall {view.case.id} notifications", NOTIFICATION_HEADERS, rows)


def _area(dose: DoseLine) -> str:
    """An area in the cart's words, as the recall pages say it ("Crow's feet, left"), with what was typed for
    it; an "other" area is what was typed ("left temple"), as the patient's letter says it."""
    if dose.area == "other" and dose.area_detail:
        return dose.area_detail
    label = AREA_LABELS.get(dose.area, dose.area)
    return f"{label} ({dose.area_detail})" if dose.area_detail else label


def container_sheet(view: CaseView) -> Sheet:
    lots = {rl.lot_id: rl.lot.number for rl in view.case.lots}
    products = {rl.lot_id: rl.lot.product.name for rl in view.case.lots}
    rows = []
    for item in view.containers:
        c, line = item.container, item.line
        rows.append([
            # A container on the road, or lost on it, is not on its source's shelf, where its row still is: say where.
            c.clinic.code, c.where_words, c.label_code, lots.get(c.lot_id, ""),
            c.state.value, c.remaining,
            c.base_unit, line.status.value, line.note or "", line.updated_by.label if line.updated_by else "",
            _local(line.updated_at, c.clinic.timezone), products.get(c.lot_id, ""),
        ])
    return Sheet(f"Recall {view.case.id} containers", CONTAINER_HEADERS, rows)


def to_xlsx(sheet: Sheet, view: CaseView) -> bytes:
    """One worksheet with a header row, frozen, filtered and sized; a second with the case's facts."""
    book = Workbook()
    ws = book.active
    ws.title = sheet.title[:31]
    ws.append(list(sheet.headers))
    for row_number, row in enumerate(sheet.rows, start=2):
        for column, value in enumerate(row, start=1):
            _write_cell(ws, row_number, column, value)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(sheet.headers))}{max(len(sheet.rows) + 1, 1)}"
    for index, header in enumerate(sheet.headers, start=1):
        width = max([len(header)] + [len(str(r[index - 1] or "")) for r in sheet.rows[:500]])
        ws.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 10), 60)
    for cell in ws[1]:
        cell.font = Font(bold=True)

    facts = book.create_sheet("Case")
    case = view.case
    facts_rows: list[tuple[str, Any]] = [
        ("Recall case", case.id), ("Status", case.status.value), ("Class", case.recall_class.value),
        ("Source", case.source.value), ("Reason", case.reason),
        ("Lots", ", ".join(f"{rl.lot.product.name} {rl.lot.number}" for rl in case.lots)),
        ("Opened at (UTC)", case.opened_at.strftime("%Y-%m-%d %H:%M")), ("Opened by", case.opened_by.label),
    ]
    if case.closed_at is not None:
        facts_rows += [("Closed at (UTC)", case.closed_at.strftime("%Y-%m-%d %H:%M")),
                       ("Closed by", case.closed_by.label if case.closed_by else "")]
    for row_number, (key, value) in enumerate(facts_rows, start=1):
        _write_cell(facts, row_number, 1, key)
        _write_cell(facts, row_number, 2, value)
    facts.column_dimensions["A"].width = 16
    facts.column_dimensions["B"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(sheet: Sheet) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens accents correctly; every text cell escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow([_csv_value(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _write_cell(ws: Worksheet, row: int, column: int, value: Any) -> None:
    """A value in its cell: text always as a text cell holding exactly the stored text (characters XML cannot
    hold aside), quote-prefixed when it looks like a formula; numbers (Decimals too) and dates as themselves."""
    if not isinstance(value, str):
        ws.cell(row=row, column=column, value=value)
        return
    text = writable_text(value)
    cell = ws.cell(row=row, column=column, value=text)
    # openpyxl takes a text starting with "=" for a formula and "#N/A" and the like for errors: text it is.
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True  # Excel and LibreOffice keep it text even when the cell is edited


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _qty(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return escape_cell(str(value))


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _local(moment: dt.datetime | None, timezone: str) -> str:
    if moment is None:
        return ""
    return to_clinic_time(moment, timezone).strftime("%Y-%m-%d %H:%M")
