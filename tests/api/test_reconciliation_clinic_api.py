"""A reconciliation of one clinic: a chain-level manager asks ``clinic_id`` rather than read every clinic of the
chain; another clinic's id answers 404, as another clinic's location does."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from sqlalchemy import select

from inventory.models import AuditEvent
from tests.api.conftest import error_code
from tests.reconciliation_factories import build_history

JUNE_QUERY = "from=2026-06-01&to=2026-06-30"

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_a_chain_manager_reads_one_clinic(api, world, session):
    build_history(world)
    session.flush()
    client = api("manager")
    everything = client.get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    assert {row["clinic_code"] for row in everything["rows"]} == {"LON", "NYC"}
    nyc = world.other_clinic
    body = client.get(f"/reports/reconciliation?{JUNE_QUERY}&clinic_id={nyc.id}").get_json()
    assert body["clinic_ids"] == [nyc.id]
    assert body["rows"] == [row for row in everything["rows"] if row["clinic_code"] == "NYC"]


def test_the_downloads_of_one_clinic_hold_its_lines_and_say_so_in_the_audit_trail(api, world, session):
    build_history(world)
    session.flush()
    client = api("manager")
    lon = world.clinic
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/reports/reconciliation.csv?{JUNE_QUERY}&clinic_id={lon.id}").get_data(as_text=True))))
    assert rows and {row["clinic"] for row in rows} == {"LON"}
    workbook = openpyxl.load_workbook(io.BytesIO(
        client.get(f"/reports/reconciliation.xlsx?{JUNE_QUERY}&clinic_id={lon.id}").data))
    sheet = workbook["Summary"]
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(rows) if "Clinic" in row)  # a title and the period come first
    clinic_column = rows[header_at].index("Clinic")
    clinics = {row[clinic_column] for row in rows[header_at + 1:] if row[clinic_column]}
    assert clinics == {"LON"}
    session.expire_all()
    exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "reconciliation.exported")).all()
    assert sorted((e.details["format"], e.details["clinic_id"]) for e in exported) == [("csv", lon.id),
                                                                                      ("xlsx", lon.id)]


def test_another_clinic_or_no_clinic_is_not_found(api, world, session):
    build_history(world)
    session.flush()
    client = api("clinic_manager")  # London's
    for clinic_id in (world.other_clinic.id, 999999):
        for suffix in ("", ".xlsx", ".csv"):
            response = client.get(f"/reports/reconciliation{suffix}?{JUNE_QUERY}&clinic_id={clinic_id}")
            assert response.status_code == 404 and error_code(response) == "not_found", (clinic_id, suffix)
    assert client.get(f"/reports/reconciliation?{JUNE_QUERY}&clinic_id={world.clinic.id}").status_code == 200


def test_a_location_of_another_clinic_than_the_one_asked_is_not_found(api, world, session):
    build_history(world)
    session.flush()
    nyc_fridge = world.location("Fridge", world.other_clinic).id
    response = api("manager").get(f"/reports/reconciliation?{JUNE_QUERY}&clinic_id={world.clinic.id}"
                                  f"&location_id={nyc_fridge}")
    assert response.status_code == 404 and error_code(response) == "not_found"


@pytest.mark.parametrize("clinic_id", ["abc", "0", "99999999999"])
def test_a_clinic_id_that_is_no_id_is_invalid(api, world, clinic_id):
    response = api("manager").get(f"/reports/reconciliation?{JUNE_QUERY}&clinic_id={clinic_id}")
    assert response.status_code == 422 and error_code(response) == "validation_error"
