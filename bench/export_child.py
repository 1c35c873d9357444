"""One export in a fresh process, so its peak RSS is its own (bench/benchmarks.py ``bench_export``).

    python -m bench.export_child MODE DATABASE CLINIC_ID|all START END OUT.xlsx [once]

MODE ``vialog``: the application's reconciliation workbook (reconciliation_export.write_workbook); it also
prints ``summary_rows``, the reconciliation's rows on the Summary.
MODE ``openpyxl``: the bare baseline, the same movement rows (one hand-written query, a server-side
cursor) into openpyxl's write-only workbook with lxml, continued on a new sheet at Excel's row limit.
MODE ``xlsxwriter``: the same rows with XlsxWriter in constant-memory mode.
Prints one JSON line: wall seconds of the process's first export and of a second one (``warm_wall_s``, as a
worker that has exported before serves it), rows, sheets.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench import db

EXCEL_MAX_ROWS = 1_048_576
ROWS_SQL = """
SELECT m.at, loc.name, p.name, p.base_unit, lot.number, c.label_code, m.kind,
       CASE WHEN m.kind = 'reversal' THEN o.kind ELSE m.kind END, m.quantity,
       coalesce(nullif(u.display_name, ''), u.username), m.reason, m.note, m.treatment_id, m.id, m.reverses_id,
       m.lot_id, m.location_id
FROM movements m JOIN locations loc ON loc.id = m.location_id JOIN products p ON p.id = m.product_id
JOIN lots lot ON lot.id = m.lot_id JOIN containers c ON c.id = m.container_id JOIN users u ON u.id = m.actor_id
LEFT JOIN movements o ON o.id = m.reverses_id
WHERE m.clinic_id = %s AND m.at >= %s AND m.at < %s ORDER BY m.at, m.id"""
HEADER = ["When (clinic time)", "Clinic", "Location", "Product", "Unit", "Lot", "Container", "Kind", "Counts as",
          "Quantity", "Who", "Reason", "Note", "Treatment", "Movement", "Reverses", "Lot id", "Location id"]


def _clinics(conn: psycopg.Connection, clinic: str) -> list[tuple[int, str, str]]:
    sql = "SELECT id, code, timezone FROM clinics" + ("" if clinic == "all" else " WHERE id = %s") + " ORDER BY code"
    return conn.execute(sql, () if clinic == "all" else (int(clinic),)).fetchall()


def _rows(conninfo: str, clinic: str, start: dt.date, end: dt.date) -> Any:
    with psycopg.connect(conninfo) as conn:
        for clinic_id, code, timezone in _clinics(conn, clinic):
            zone = ZoneInfo(timezone)
            first = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
            after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
            with conn.cursor(name=f"rows_{clinic_id}") as cur:
                cur.itersize = 2000
                cur.execute(ROWS_SQL, (clinic_id, first, after))
                for r in cur:
                    yield [r[0].astimezone(zone).replace(tzinfo=None), code, *r[1:]]


def bare_openpyxl(conninfo: str, clinic: str, start: dt.date, end: dt.date, out: str) -> tuple[int, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet, sheets, in_sheet, rows = None, 0, EXCEL_MAX_ROWS, 0
    for values in _rows(conninfo, clinic, start, end):
        if in_sheet >= EXCEL_MAX_ROWS:
            sheets += 1
            sheet = workbook.create_sheet("Movements" if sheets == 1 else f"Movements ({sheets})")
            sheet.append(HEADER)
            in_sheet = 1
        # The moment and the quantity need a number format to read as such (as XlsxWriter's below,
        # and as the export's): the least an auditor's sheet takes.
        when, quantity = WriteOnlyCell(sheet, values[0]), WriteOnlyCell(sheet, values[9])
        when.number_format, quantity.number_format = "yyyy-mm-dd hh:mm:ss", "#,##0.0###"
        values[0], values[9] = when, quantity
        sheet.append(values)
        in_sheet += 1
        rows += 1
    workbook.save(out)
    return rows, sheets


def bare_xlsxwriter(conninfo: str, clinic: str, start: dt.date, end: dt.date, out: str) -> tuple[int, int]:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(out, {"constant_memory": True})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    qty = workbook.add_format({"num_format": "#,##0.0###"})
    sheet, sheets, r, rows = None, 0, EXCEL_MAX_ROWS, 0
    for values in _rows(conninfo, clinic, start, end):
        if r >= EXCEL_MAX_ROWS:
            sheets += 1
            sheet = workbook.add_worksheet("Movements" if sheets == 1 else f"Movements ({sheets})")
            sheet.write_row(0, 0, HEADER)
            r = 1
        sheet.write_datetime(r, 0, values[0], when)
        for c, value in enumerate(values[1:], start=1):
            if c == 9:
                sheet.write_number(r, c, float(value), qty)
            elif value is not None:
                sheet.write(r, c, value if not hasattr(value, "as_tuple") else float(value))
        r += 1
        rows += 1
    workbook.close()
    return rows, sheets


def vialog_workbook(app: Any, clinic: str, start: dt.date, end: dt.date, out: str) -> tuple[int, int, int]:
    from inventory.extensions import db as vialog_db
    from inventory.models import utcnow
    from inventory.services.permissions import Scope
    from inventory.reconciliation.service import Period
    from inventory.reconciliation.export import write_workbook

    scope = Scope.everything() if clinic == "all" else Scope(frozenset({int(clinic)}))
    with app.app_context(), open(out, "wb") as handle:
        result = write_workbook(vialog_db.session, handle, scope=scope, period=Period.of(start, end), now=utcnow())
    return result.movement_rows, len(result.movement_sheets), result.summary_rows


def _peak_rss_mb() -> float:
    """This process's high-water RSS (VmHWM: counted from exec, unlike ru_maxrss, which Linux carries
    over from the parent that forked us)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main(argv: list[str]) -> None:
    mode, database, clinic, start, end, out, *once = argv  # "once": no second export (a chain's year)
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    # Imports and the app's creation happen before the clock starts: a served export finds them done.
    import openpyxl  # noqa: F401
    import xlsxwriter  # noqa: F401

    from bench.benchmarks import make_app
    from inventory.reconciliation import export as reconciliation_export  # noqa: F401  (imported before the clock starts)

    app = make_app(database)
    started_mb = _peak_rss_mb()
    extra: dict[str, Any] = {}

    def export() -> tuple[int, int]:
        if mode == "vialog":
            rows, sheets, extra["summary_rows"] = vialog_workbook(app, clinic, first, last, out)
            return rows, sheets
        if mode == "openpyxl":
            return bare_openpyxl(db.conninfo(database), clinic, first, last, out)
        return bare_xlsxwriter(db.conninfo(database), clinic, first, last, out)

    # The first export of a process (what ``wall_s`` and the peak RSS measure), then the same again as a
    # worker that has exported before serves it: its statements compiled and its connection's types known.
    t0 = time.perf_counter()
    rows, sheets = export()
    cold = time.perf_counter() - t0
    peak = _peak_rss_mb()
    warm = None
    if not once:
        t0 = time.perf_counter()
        export()
        warm = round(time.perf_counter() - t0, 3)
    print(json.dumps({"wall_s": round(cold, 3), "warm_wall_s": warm, "rows": rows, "sheets": sheets,
                      "peak_rss_mb": peak, "rss_before_mb": started_mb, **extra}))


if __name__ == "__main__":
    main(sys.argv[1:])
