"""Counts and reconciliation reports over the API: roles, the two-person rule, clinic scoping."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from inventory.models import AuditEvent
from inventory.counts import service as counts
from inventory.reconciliation import service as reconciliation
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from tests.api.conftest import error_code
from tests.factories import NOW, adjustments, opened_vial
from tests.reconciliation_factories import JUNE, build_history, consignments

JUNE_QUERY = "from=2026-06-01&to=2026-06-30"


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.mark.parametrize("method, path", [
    ("post", "/counts"), ("get", "/counts"), ("get", "/counts/1"), ("post", "/counts/1/post"),
    ("get", f"/reports/reconciliation?{JUNE_QUERY}"), ("get", f"/reports/reconciliation.xlsx?{JUNE_QUERY}"),
    ("get", f"/reports/reconciliation.csv?{JUNE_QUERY}"),
])
@pytest.mark.parametrize("role", ["nurse", "safety"])
def test_nurses_and_safety_leads_may_not_count_or_export(api, world, method, path, role):
    client = api(role)
    response = client.post(path, {}) if method == "post" else client.get(path)
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_anonymous_callers_are_asked_to_sign_in(api, world):
    assert api().get(f"/reports/reconciliation.xlsx?{JUNE_QUERY}").status_code == 401


def test_post_counts_submits_the_sheet_and_answers_with_provisional_variances(api, world, session):
    vial = opened_vial(world)  # 86.5 U left
    receipt = world.receive("botox", lot="L2", containers=3)
    session.flush()
    response = api("clinic_manager").post("/counts", {
        "location_id": world.location().id,
        "lines": [{"container": vial.label_code, "counted": "80"}, {"lot_id": receipt.lot.id, "counted": "200"}],
    })
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "submitted" and body["counted_by"] == "lon-manager" and body["approved_by"] is None
    by_target = {line["label_code"] or line["lot_number"]: line for line in body["lines"]}
    assert by_target[vial.label_code] | {"id": 0} == {
        "id": 0, "container_id": vial.id, "label_code": vial.label_code, "lot_id": vial.lot_id,
        "lot_number": "C3709C3", "product_id": world.botox.id, "product_name": "Botox Cosmetic 100 U",
        "base_unit": "U", "counted": "80", "containers_counted": 0, "expected": "86.5", "expected_containers": 0,
        "variance": "-6.5", "is_provisional": True,
    }
    assert (by_target["L2"]["containers_counted"], by_target["L2"]["expected_containers"]) == (2, 3)
    assert {line["variance"] for line in body["variances"]} == {"-6.5", "-100"}
    assert body["adjustments"] == [] and adjustments(session) == []  # nothing changes until a second manager posts


def test_the_counter_may_not_post_but_another_manager_may_once(api, world, session):
    vial = opened_vial(world)
    counter = api("clinic_manager")
    created = counter.post("/counts", {"location_id": world.location().id,
                                       "lines": [{"container": vial.id, "counted": "80.5"}]}).get_json()
    refused = counter.post(f"/counts/{created['id']}/post")
    assert refused.status_code == 409 and error_code(refused) == "counter_may_not_post"
    assert "another manager" in refused.get_json()["error"]["message"]

    reviewer = api("manager")
    posted = reviewer.post(f"/counts/{created['id']}/post", headers={"Idempotency-Key": "post-1"})
    assert posted.status_code == 200, posted.get_json()
    body = posted.get_json()
    assert body["status"] == "posted" and body["approved_by"] == "manager" and body["counted_by"] == "lon-manager"
    assert [(a["container_id"], a["quantity"], a["balance_after"]) for a in body["adjustments"]] == [
        (vial.id, "-6", "80.5")]
    assert body["lines"][0]["is_provisional"] is False and body["lines"][0]["variance"] == "-6"
    replay = reviewer.post(f"/counts/{created['id']}/post", headers={"Idempotency-Key": "post-1"})
    assert (replay.status_code, replay.get_json()) == (200, body)
    again = reviewer.post(f"/counts/{created['id']}/post")
    assert again.status_code == 409 and error_code(again) == "count_not_editable"
    assert len(adjustments(session)) == 1


def test_a_reviewer_sends_a_count_back(api, world, session):
    vial = world.container("botox")
    session.flush()
    created = api("clinic_manager").post("/counts", {"location_id": world.location().id,
                                                     "lines": [{"container": vial.label_code}]}).get_json()
    assert created["lines"][0]["counted"] == "100"  # a scanned label alone: sealed and full
    assert error_code(api("clinic_manager").post(f"/counts/{created['id']}/reopen")) == "counter_may_not_post"
    reopened = api("manager").post(f"/counts/{created['id']}/reopen")
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "draft"
    assert reopened.get_json()["lines"][0]["expected"] is None  # a draft is blind again


def test_a_draft_read_over_the_api_is_blind(api, world, session):
    vial = opened_vial(world)
    manager = world.users["clinic_manager"]
    count = counts.start_count(session, actor=manager, scope=Scope.for_user(manager),
                               location_id=world.location().id, now=NOW)
    counts.add_line(session, actor=manager, scope=Scope.for_user(manager), count_id=count.id,
                    spec=LineSpec(container=vial.label_code, counted=Decimal(70)), now=NOW)
    session.flush()
    body = api("clinic_manager").get(f"/counts/{count.id}").get_json()
    assert body["status"] == "draft" and "86.5" not in str(body)
    assert (body["lines"][0]["expected"], body["lines"][0]["variance"], body["variances"]) == (None, None, [])
    listed = api("clinic_manager").get("/counts").get_json()["counts"]
    assert [(c["id"], c["status"], c["line_count"]) for c in listed] == [(count.id, "draft", 1)]


def test_counts_are_scoped_to_the_callers_clinics(api, world, session):
    nyc_fridge = world.location("Fridge", world.other_clinic)
    nyc_vial = world.container("botox", location=nyc_fridge)
    session.flush()
    response = api("clinic_manager").post("/counts", {"location_id": nyc_fridge.id,
                                                      "lines": [{"container": nyc_vial.id, "counted": "1"}]})
    assert response.status_code == 404 and error_code(response) == "not_found"
    created = api("manager").post("/counts", {"location_id": nyc_fridge.id,
                                              "lines": [{"container": nyc_vial.id, "counted": "0"}]}).get_json()
    other = api("clinic_manager")
    assert other.get(f"/counts/{created['id']}").status_code == 404
    assert other.post(f"/counts/{created['id']}/post").status_code == 404
    assert other.get("/counts").get_json()["counts"] == []


@pytest.mark.parametrize("body, field", [
    ({"location_id": 1, "lines": []}, "lines"),
    ({"location_id": 1, "lines": [{"counted": "1"}]}, "lines.0"),
    ({"location_id": 1, "lines": [{"container": "X", "lot_id": 1, "counted": "1"}]}, "lines.0"),
    ({"location_id": 1, "lines": [{"container": "X", "counted": "NaN"}]}, "lines.0.counted"),
])
def test_post_counts_validates_its_body(api, world, body, field):
    response = api("manager").post("/counts", body)
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert response.get_json()["error"]["details"]["fields"][0]["field"].startswith(field)


def test_a_negative_count_is_invalid(api, world, session):
    vial = world.container("botox")
    session.flush()
    response = api("manager").post("/counts", {"location_id": world.location().id,
                                               "lines": [{"container": vial.id, "counted": "-1"}]})
    assert response.status_code == 422 and error_code(response) == "validation_error"


# --- reports ---------------------------------------------------------------------------------------------


def test_the_json_report_is_the_services_numbers(api, world, session):
    build_history(world)
    session.flush()
    body = api("manager").get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    assert (body["period_from"], body["period_to"], body["location_id"]) == ("2026-06-01", "2026-06-30", None)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    assert len(body["rows"]) == len(rec.rows)
    for got, row in zip(body["rows"], rec.rows, strict=True):
        assert (got["lot_id"], got["location_id"]) == (row.lot.id, row.location.id)
        assert Decimal(got["expected_closing"]) == row.expected_closing
        assert Decimal(got["drawn"]) == row.drawn
        assert got["variance"] == (None if row.variance is None else f"{row.variance.normalize():f}")
    assert {t["product_id"] for t in body["totals"]} == {row.product.id for row in rec.rows}


def test_the_workbook_and_the_csv_download(api, world, session):
    build_history(world)
    session.flush()
    client = api("manager")
    workbook = client.get(f"/reports/reconciliation.xlsx?{JUNE_QUERY}&location_id={world.location().id}")
    assert workbook.status_code == 200
    assert workbook.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # Named after what it covers: downloads of two places never overwrite each other.
    assert "vialog-reconciliation-LON-Fridge-2026-06-01_2026-06-30.xlsx" in workbook.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(workbook.data))
    assert book.sheetnames[:2] == ["Summary", "Movements"] and "Usage" in book.sheetnames
    assert {row[5] for row in book["Summary"].iter_rows(min_row=5, max_row=6, values_only=True)} == {"Fridge"}

    csv_response = client.get(f"/reports/reconciliation.csv?{JUNE_QUERY}")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert "vialog-reconciliation-LON-NYC-2026-06-01_2026-06-30.csv" in csv_response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True))))
    assert rows and {row["clinic"] for row in rows} == {"LON", "NYC"}
    session.expire_all()
    exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "reconciliation.exported")).all()
    assert sorted(e.details["format"] for e in exported) == ["csv", "xlsx"]


def test_a_clinic_manager_sees_only_their_clinics(api, world, session):
    build_history(world)
    session.flush()
    client = api("clinic_manager")
    body = client.get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    assert body["rows"] and {row["clinic_code"] for row in body["rows"]} == {"LON"}
    nyc_fridge = world.location("Fridge", world.other_clinic).id
    for suffix in ("", ".xlsx", ".csv"):
        response = client.get(f"/reports/reconciliation{suffix}?{JUNE_QUERY}&location_id={nyc_fridge}")
        assert response.status_code == 404 and error_code(response) == "not_found"


@pytest.mark.parametrize("query", [
    "", "from=2026-06-01", "from=2026-06-30&to=2026-06-01", "from=2020-01-01&to=2026-06-01",
    "from=June&to=2026-06-30", f"{JUNE_QUERY}&location_id=abc", f"{JUNE_QUERY}&location_id=99999999999",
    f"{JUNE_QUERY}&surprise=1",
])
def test_a_bad_period_or_location_is_invalid(api, world, query):
    for suffix in ("", ".xlsx", ".csv"):
        response = api("manager").get(f"/reports/reconciliation{suffix}?{query}")
        assert response.status_code == 422 and error_code(response) == "validation_error", (suffix, query)


def test_an_unknown_location_is_not_found(api, world):
    response = api("admin").get(f"/reports/reconciliation.xlsx?{JUNE_QUERY}&location_id=999999")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_the_openapi_document_lists_the_new_operations(api, world):
    paths = api().get("/openapi.json").get_json()["paths"]
    assert {"/api/v1/counts", "/api/v1/counts/{count_id}", "/api/v1/counts/{count_id}/post",
            "/api/v1/reports/reconciliation", "/api/v1/reports/reconciliation.xlsx",
            "/api/v1/reports/reconciliation.csv"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/v1/reports/reconciliation.xlsx"]["get"]["parameters"]}
    assert parameters == {"from", "to", "location_id", "clinic_id"}


ROW_FIELDS = {
    "clinic_id", "clinic_code", "location_id", "location", "product_id", "product", "base_unit", "lot_id", "lot",
    "expiry", "opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned",
    "expected_closing", "count_id", "counted_at", "counted", "expected_at_count", "variance", "sealed_at_start",
    "sealed_at_end", "sealed_counted", "sealed_expected_at_count", "sealed_variance",
    "containers_counted", "containers_at_count", "partly_counted", "supplier",  # a count's coverage, the supplier
}
TOTAL_FIELDS = {"product_id", "product", "base_unit", "opening", "received", "drawn", "wasted", "adjusted",
                "transfers_in", "transfers_out", "returned", "expected_closing", "variance",
                "counted", "expected_at_count", "rows", "rows_counted"}  # count totals: over the counted rows


def test_the_json_report_adds_what_was_in_transit_at_the_end(api, world, session):
    expected = consignments(world)
    body = api("manager").get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    rows = {f"{row['lot']} {row['clinic_code']}": row for row in body["rows"]}
    assert {key: Decimal(rows[key]["in_transit_at_end"]) for key in expected} == expected
    assert all(set(row) == ROW_FIELDS | {"in_transit_at_end"} for row in body["rows"])  # one field more
    sent_in_may = rows["R2 LON"]  # still on the road, with no June movement: the row says where it is
    assert (sent_in_may["opening"], sent_in_may["transfers_out"], sent_in_may["expected_closing"],
            sent_in_may["in_transit_at_end"]) == ("300", "300", "0", "600")
    totals = {total["product"]: total for total in body["totals"]}
    assert all(set(total) == TOTAL_FIELDS | {"in_transit_at_end"} for total in body["totals"])
    assert (totals["Botox Cosmetic 100 U"]["in_transit_at_end"], totals["Dysport 300 U"]["in_transit_at_end"]) == \
        ("300", "600")

    # New York's own manager sees New York's consignment on the road, in New York's days.
    theirs = api(world.nyc_manager()).get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    assert {(row["lot"], row["in_transit_at_end"]) for row in theirs["rows"]} >= {("N1", "100")}
    assert {row["clinic_code"] for row in theirs["rows"]} == {"NYC"}

    schemas = api().get("/openapi.json").get_json()["components"]["schemas"]
    row_schemas = [schema for name, schema in schemas.items() if name.startswith("ReconciliationRowOut")]
    assert row_schemas and all("not part of expected_closing" in schema["properties"]["in_transit_at_end"][
        "description"] for schema in row_schemas)
