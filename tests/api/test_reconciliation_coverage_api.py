"""The reconciliation's rows over the API: a count that covered only some of a lot's containers says so, stock
taken in by transfer keeps the supplier of the first clinic's receipt, and the CSV's times are clinic time."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from tests.reconciliation_coverage_scene import COUNTED_AT, DAY_QUERY, NORTHFIELD, partly_counted_transferred_lot

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

VIA_LONDON = f"{NORTHFIELD} (via transfer from LON)"


def test_a_row_whose_count_covered_one_vial_of_two_says_so_and_names_the_supplier_of_transferred_stock(api, world):
    scene = partly_counted_transferred_lot(world)
    body = api(world.nyc_manager()).get(
        f"/reports/reconciliation?{DAY_QUERY}&location_id={scene.nyc_fridge.id}").get_json()
    rows = {row["lot"]: row for row in body["rows"]}
    assert set(rows) == {"QA1DYS", "QA2DYS"}
    partial = rows["QA1DYS"]
    # The figures of the vial counted, beside the lot's closing: no longer read as the whole lot counted.
    assert (partial["counted"], partial["expected_at_count"], partial["variance"], partial["expected_closing"]) == (
        "0", "300", "-300", "300")
    assert (partial["containers_counted"], partial["containers_at_count"], partial["partly_counted"]) == (1, 2, True)
    assert partial["supplier"] == VIA_LONDON  # received at London from Northfield, not "not recorded"
    whole = rows["QA2DYS"]
    assert (whole["containers_counted"], whole["containers_at_count"], whole["partly_counted"]) == (1, 1, False)
    assert whole["supplier"] is None  # its receipt recorded none
    # The JSON API keeps UTC (API.md).
    assert dt.datetime.fromisoformat(partial["counted_at"].replace("Z", "+00:00")) == COUNTED_AT
    assert dt.datetime.fromisoformat(partial["counted_at"].replace("Z", "+00:00")).utcoffset() == dt.timedelta(0)

    # London's own row of the lot (sent away on 2 December) names the supplier without a transfer.
    london = api("manager").get("/reports/reconciliation?from=2026-12-01&to=2026-12-04").get_json()
    suppliers = {(row["lot"], row["clinic_code"]): row["supplier"] for row in london["rows"]}
    assert suppliers[("QA1DYS", "LON")] == NORTHFIELD and suppliers[("QA1DYS", "NYC")] == VIA_LONDON
    assert all(row["containers_counted"] is None and row["partly_counted"] is False
               for row in london["rows"] if row["count_id"] is None)

    schemas = api().get("/openapi.json").get_json()["components"]["schemas"]
    row_schemas = [schema for name, schema in schemas.items() if name.startswith("ReconciliationRowOut")]
    assert row_schemas and all(
        {"containers_counted", "containers_at_count", "partly_counted", "supplier"} <= set(schema["properties"])
        and "via transfer from" in schema["properties"]["supplier"]["description"] for schema in row_schemas)


def test_the_workbook_row_says_how_many_containers_were_counted_and_who_supplied_the_lot(api, world):
    scene = partly_counted_transferred_lot(world)
    response = api(world.nyc_manager()).get(
        f"/reports/reconciliation.xlsx?{DAY_QUERY}&location_id={scene.nyc_fridge.id}")
    assert response.status_code == 200
    summary = openpyxl.load_workbook(io.BytesIO(response.data))["Summary"]
    header = [cell.value for cell in summary[4]]
    # Added after the ids: no column the formulas or an auditor's sheet name moves.
    assert header[26:] == ["Product id", "Lot id", "Location id", "Containers counted", "Containers here at count",
                           "Count covered", "Supplier"]
    assert (summary["P4"].value, summary["S4"].value) == ("In transit at end", "Variance")
    rows = {row[2]: dict(zip(header, row, strict=True)) for row in summary.iter_rows(min_row=5, max_row=6,
                                                                                      values_only=True)}
    partial, whole = rows["QA1DYS"], rows["QA2DYS"]
    assert (partial["Counted"], partial["Expected at count"]) == (0, 300)
    assert (partial["Containers counted"], partial["Containers here at count"], partial["Count covered"],
            partial["Supplier"]) == (1, 2, "partly counted: 1 of 2 containers", VIA_LONDON)
    assert (whole["Containers counted"], whole["Containers here at count"], whole["Count covered"],
            whole["Supplier"]) == (1, 1, None, "not recorded")
    assert summary.auto_filter.ref == "A4:AG6"


def test_the_csv_writes_times_in_clinic_time_with_their_offset_under_the_same_column_names(api, world):
    scene = partly_counted_transferred_lot(world)
    text = api(world.nyc_manager()).get(
        f"/reports/reconciliation.csv?{DAY_QUERY}&location_id={scene.nyc_fridge.id}").get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(text))
    assert "counted_at" in reader.fieldnames  # programs read the columns by name: the name stays
    rows = {row["lot"]: row for row in reader}
    partial = rows["QA1DYS"]
    # As the workbook shows it (14:29:55 in New York), with the offset: never 19:29:55+00:00.
    assert partial["counted_at"] == "2026-12-04T14:29:55-05:00"
    assert (partial["containers_counted"], partial["containers_at_count"], partial["count_covered"],
            partial["supplier"]) == ("1", "2", "partly counted: 1 of 2 containers", VIA_LONDON)
    assert (rows["QA2DYS"]["count_covered"], rows["QA2DYS"]["supplier"]) == ("", "not recorded")

    # A report over both clinics: each time is its own clinic's, with that clinic's offset.
    chain = list(csv.reader(io.StringIO(api("manager").get(
        "/reports/reconciliation.csv?from=2026-12-04&to=2026-12-04").get_data(as_text=True))))
    column = chain[0].index("counted_at")
    assert {line[column] for line in chain[1:] if line[2] == "QA1DYS" and line[4] == "NYC"} == {
        "2026-12-04T14:29:55-05:00"}
