"""The recall API: traces, quarantine and release, recall cases, exports; roles, scoping, access log."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from inventory.models import AuditEvent
from inventory.services.permissions import Scope
from recall import queries
from tests import recall_helpers as rh
from tests.api.conftest import error_code
from tests.factories import patient, reconstitute


class Data:
    """Botox lot C3709C3 at London and New York (and a Dysport lot of the same number), treated patients."""

    def __init__(self, world):
        rh.share_toxins(world)
        nyc = world.other_clinic
        self.world = world
        self.lon_vials = world.receive("botox", lot="C3709C3", containers=2).containers
        self.nyc_vials = world.receive("botox", lot="C3709C3", containers=1,
                                       location=world.location("Fridge", nyc)).containers
        self.dysport = world.container("dysport", lot="c3709c3 ", location=world.location("Fridge", nyc))
        self.lot = self.lon_vials[0].lot
        vial, vial_ny = reconstitute(world, self.lon_vials[0]), reconstitute(world, self.nyc_vials[0])
        self.ann = patient(world, "L-1", name="Ann Lee")
        self.nyc_patient = patient(world, "N-1", clinic=nyc, name="Ned Ray")
        self.treatment = rh.treat(world, self.ann, injector=world.users["nurse"])
        self.draw = rh.give(world, self.treatment, vial, "0.1", unit="mL", injector=world.users["nurse"])
        rh.give(world, rh.treat(world, self.nyc_patient), vial_ny, "8", area="forehead")
        self.gs1 = f"]d201{world.botox.gtins[0].gtin}17270331" "10C3709C3"
        world.session.flush()


@pytest.fixture
def data(world):
    return Data(world)


@pytest.fixture
def lon_safety(world):
    return world.lon_safety_lead()


def access_events(session, viewer_id: int | None = None) -> list[AuditEvent]:
    session.expire_all()
    stmt = select(AuditEvent).where(AuditEvent.action.like("patient_data.%")).order_by(AuditEvent.id)
    if viewer_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == viewer_id)
    return list(session.scalars(stmt))


# --- traces ---------------------------------------------------------------------------------


def test_lot_trace_answers_the_contract(api, data, session):
    response = api("safety").get(f"/lots/{data.lot.id}/trace")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) >= {"lot", "containers", "treatments", "patients"}
    assert (body["lot"]["number"], body["lot"]["status"]) == ("C3709C3", "active")
    assert {c["clinic_code"] for c in body["containers"]} == {"LON", "NYC"}
    ann = next(t for t in body["treatments"] if t["patient"]["name"] == "Ann Lee")
    assert set(ann) >= {"treatment_id", "patient", "at", "area", "quantity", "injector"}
    assert (ann["treatment_id"], ann["area"], ann["quantity"], ann["unit"], ann["quantity_ml"]) == (
        data.treatment.id, "glabella", "4", "U", "0.1")
    assert ann["injector"] == data.world.users["nurse"].label and ann["reversed"] is False
    assert ann["at"].endswith("Z") and ann["local_at"].endswith("+01:00")  # June in London
    assert {p["name"] for p in body["patients"]} == {"Ann Lee", "Ned Ray"}


def test_a_reversed_draw_is_marked_and_its_patient_not_listed(api, data, world):
    rh.reverse(world, data.draw)
    body = api("safety").get(f"/lots/{data.lot.id}/trace").get_json()
    ann = next(t for t in body["treatments"] if t["patient"]["name"] == "Ann Lee")
    assert ann["reversed"] is True
    assert [p["name"] for p in body["patients"]] == ["Ned Ray"]


def test_trace_by_typed_number_or_scanned_code(api, data):
    client = api("safety")
    typed = client.get("/trace", query_string={"lot": " c3709c3"}).get_json()
    assert {t["lot"]["product_name"] for t in typed["lots"]} == {"Botox Cosmetic 100 U", "Dysport 300 U"}
    scanned = client.get("/trace", query_string={"lot": data.gs1}).get_json()
    assert [t["lot"]["id"] for t in scanned["lots"]] == [data.lot.id]
    label = client.get("/trace", query_string={"lot": data.lon_vials[1].label_code}).get_json()
    assert [t["lot"]["id"] for t in label["lots"]] == [data.lot.id]
    assert error_code(client.get("/trace", query_string={"lot": "NOPE1"})) == "not_found"
    assert error_code(client.get("/trace")) == "validation_error"


def test_patient_to_lots(api, data):
    response = api("safety").get(f"/patients/{data.ann.id}/lots")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["patient"]["name"], body["clinic"]["code"]) == ("Ann Lee", "LON")
    (lot,) = body["lots"]
    assert (lot["lot"]["number"], lot["received"], len(lot["draws"])) == ("C3709C3", True, 1)
    assert error_code(api("safety").get("/patients/999999/lots")) == "not_found"


def test_every_trace_is_in_the_access_log(api, data, session, world):
    safety = world.users["safety"]
    client = api("safety")
    client.get(f"/lots/{data.lot.id}/trace")
    client.get("/trace", query_string={"lot": "C3709C3"})
    client.get(f"/patients/{data.ann.id}/lots")
    events = access_events(session, safety.id)
    assert [(e.action, e.object_type, e.details["view"]) for e in events] == [
        ("patient_data.viewed", "lot", "lot_trace"), ("patient_data.viewed", "lot", "lot_trace"),
        ("patient_data.viewed", "patient", "patient_lots"),
    ]
    assert sorted(events[0].details["patient_ids"]) == sorted([data.ann.id, data.nyc_patient.id])
    assert events[1].details["query"] == "C3709C3"


@pytest.mark.parametrize("role", ["nurse", "manager"])
def test_nurses_and_managers_may_not_trace_quarantine_or_recall(api, data, role, session):
    client = api(role)
    for response in (
        client.get(f"/lots/{data.lot.id}/trace"), client.get("/trace", query_string={"lot": "C3709C3"}),
        client.get(f"/patients/{data.ann.id}/lots"),
        client.post(f"/lots/{data.lot.id}/quarantine", {"reason": "x"}),
        client.post(f"/lots/{data.lot.id}/release", {"reason": "x"}),
        client.post("/recalls", {"lot_ids": [data.lot.id], "reason": "x", "recall_class": "I", "source": "internal"}),
        client.get("/recalls"),
    ):
        assert response.status_code == 403 and error_code(response) == "forbidden"
    assert access_events(session) == []
    assert error_code(api().get(f"/lots/{data.lot.id}/trace")) == "unauthorized"


# --- clinic scoping --------------------------------------------------------------------------------


def test_a_clinic_safety_lead_sees_only_their_clinics_patients(api, data, lon_safety):
    client = api(lon_safety)
    body = client.get(f"/lots/{data.lot.id}/trace").get_json()
    assert [p["name"] for p in body["patients"]] == ["Ann Lee"]
    assert {c["clinic_code"] for c in body["containers"]} == {"LON"}
    assert all(t["clinic_code"] == "LON" for t in body["treatments"])
    assert error_code(client.get(f"/patients/{data.nyc_patient.id}/lots")) == "not_found"
    chain = api("safety").get(f"/lots/{data.lot.id}/trace").get_json()
    assert {p["name"] for p in chain["patients"]} == {"Ann Lee", "Ned Ray"}


def test_a_clinic_safety_lead_works_only_their_lines_of_a_case(api, data, lon_safety):
    case = api("safety").post("/recalls", {"lot_ids": [data.lot.id], "reason": "counterfeit alert",
                                           "recall_class": "I", "source": "regulator"}).get_json()
    client = api(lon_safety)
    body = client.get(f"/recalls/{case['id']}").get_json()
    assert [p["patient"]["name"] for p in body["patients"]] == ["Ann Lee"]
    assert {c["clinic_id"] for c in body["containers"]} == {data.world.clinic.id}
    assert body["open_elsewhere"] == 2  # Ned, and New York's vial
    response = client.patch(f"/recalls/{case['id']}/patients/{data.nyc_patient.id}",
                            {"status": "notified", "method": "phone"})
    assert response.status_code == 404
    (summary,) = client.get("/recalls").get_json()["recalls"]
    assert summary["progress"]["patients_total"] == 1


# --- quarantine and release -------------------------------------------------------------------------


def test_quarantine_and_release(api, data, session):
    client = api("safety")
    missing = client.post(f"/lots/{data.lot.id}/quarantine", {})
    assert missing.status_code == 422 and error_code(missing) == "validation_error"
    assert client.post(f"/lots/{data.lot.id}/quarantine", {"reason": "  "}).status_code == 422

    response = client.post(f"/lots/{data.lot.id}/quarantine", {"reason": "fridge alarm overnight"})
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["status_reason"]) == (
        "quarantined", "fridge alarm overnight")
    again = client.post(f"/lots/{data.lot.id}/quarantine", {"reason": "again"})
    assert (again.status_code, error_code(again)) == (409, "lot_quarantined")

    scan = api("nurse").post("/scans", {"code": data.gs1})
    assert (scan.status_code, error_code(scan)) == (409, "lot_quarantined")

    released = client.post(f"/lots/{data.lot.id}/release", {"reason": "log checked, in range"})
    assert released.status_code == 200 and released.get_json()["status"] == "active"
    assert api("nurse").post("/scans", {"code": data.gs1}).status_code == 200
    not_quarantined = client.post(f"/lots/{data.lot.id}/release", {"reason": "again"})
    assert (not_quarantined.status_code, error_code(not_quarantined)) == (409, "lot_not_quarantined")
    assert error_code(client.post("/lots/999999/quarantine", {"reason": "x"})) == "not_found"


def test_a_recalled_lot_is_never_released(api, data):
    client = api("admin")
    assert client.post("/recalls", {"lot_ids": [data.lot.id], "reason": "counterfeit", "recall_class": "I",
                                    "source": "regulator"}).status_code == 201
    response = client.post(f"/lots/{data.lot.id}/release", {"reason": "please"})
    assert (response.status_code, error_code(response)) == (409, "lot_recalled")
    assert "never released" in response.get_json()["error"]["message"]
    scan = api("nurse").post("/scans", {"code": data.gs1})
    assert (scan.status_code, error_code(scan)) == (409, "lot_recalled")


# --- recall cases ----------------------------------------------------------------------------------------


def test_recall_case_life_cycle(api, data, session, world):
    client = api("safety")
    body = {"lot_ids": [data.lot.id], "reason": "Allergan notice 14", "recall_class": "II", "source": "manufacturer"}
    created = client.post("/recalls", body, headers={"Idempotency-Key": "recall-1"})
    assert created.status_code == 201, created.get_json()
    case = created.get_json()
    assert (case["status"], case["recall_class"], case["source"]) == ("open", "II", "manufacturer")
    assert [lot["status"] for lot in case["lots"]] == ["recalled"]
    assert {p["patient"]["name"] for p in case["patients"]} == {"Ann Lee", "Ned Ray"}
    assert all(p["status"] == "pending" for p in case["patients"])
    assert len(case["containers"]) == 3 and all(c["status"] == "open" for c in case["containers"])
    ann = next(p for p in case["patients"] if p["patient"]["name"] == "Ann Lee")
    assert ann["draws"][0]["quantity"] == "4"
    replay = client.post("/recalls", body, headers={"Idempotency-Key": "recall-1"})
    assert (replay.status_code, replay.get_json()["id"]) == (201, case["id"])
    assert len(client.get("/recalls").get_json()["recalls"]) == 1

    closing = client.post(f"/recalls/{case['id']}/close")
    assert (closing.status_code, error_code(closing)) == (409, "recall_open_items")
    details = closing.get_json()["error"]["details"]
    assert (details["patients_pending"], details["containers_open"]) == (2, 3)

    no_method = client.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "notified"})
    assert (no_method.status_code, error_code(no_method)) == (422, "validation_error")
    bad = client.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "maybe"})
    assert bad.status_code == 422
    line = client.patch(f"/recalls/{case['id']}/patients/{data.ann.id}",
                        {"status": "notified", "method": "phone", "note": "spoke to her"}).get_json()
    assert (line["status"], line["method"], line["updated_by"]) == ("notified", "phone", world.users["safety"].label)
    client.patch(f"/recalls/{case['id']}/patients/{data.nyc_patient.id}", {"status": "unreachable"})
    for n, container in enumerate(case["containers"]):
        done = client.patch(f"/recalls/{case['id']}/containers/{container['container_id']}",
                            {"status": "returned" if n else "destroyed"})
        assert done.status_code == 200 and done.get_json()["remaining"] == "0", done.get_json()
    again = client.patch(f"/recalls/{case['id']}/containers/{case['containers'][0]['container_id']}",
                         {"status": "returned"})
    assert (again.status_code, error_code(again)) == (409, "recall_item_done")

    closed = client.post(f"/recalls/{case['id']}/close")
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert closed.get_json()["progress"] == {"patients_done": 2, "patients_total": 2, "patients_unreachable": 1,
                                             "patients_not_required": 0, "containers_done": 3, "containers_total": 3}
    listed = next(c for c in client.get("/recalls").get_json()["recalls"] if c["id"] == case["id"])
    assert listed["progress"] == closed.get_json()["progress"]
    line = closed.get_json()["containers"][0]
    assert {"clinic_code", "location_id"} <= set(line) and line["clinic_code"] in {"LON", "NYC"}
    late = client.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "pending"})
    assert (late.status_code, error_code(late)) == (409, "recall_closed")
    assert error_code(client.get("/recalls/999999")) == "not_found"


def test_opening_validates_the_body(api, data):
    client = api("safety")
    for body in (
        {}, {"lot_ids": [], "reason": "x", "recall_class": "I", "source": "internal"},
        {"lot_ids": [data.lot.id], "reason": "x", "recall_class": "IV", "source": "internal"},
        {"lot_ids": [data.lot.id], "reason": "", "recall_class": "I", "source": "internal"},
        {"lot_ids": [data.lot.id], "reason": "x", "recall_class": "I", "source": "gossip"},
        {"lot_ids": [2**40], "reason": "x", "recall_class": "I", "source": "internal"},
    ):
        response = client.post("/recalls", body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    unknown = client.post("/recalls", {"lot_ids": [999999], "reason": "x", "recall_class": "I",
                                       "source": "internal"})
    assert unknown.status_code == 404
    assert client.post("/recalls", "{not json").status_code == 400


def test_exports_are_files_and_are_recorded(api, data, session, world):
    client = api("safety")
    case = client.post("/recalls", {"lot_ids": [data.lot.id], "reason": "x", "recall_class": "III",
                                    "source": "internal"}).get_json()
    xlsx = client.get(f"/recalls/{case['id']}/patients.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert {row[2] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"Ann Lee", "Ned Ray"}
    csv_file = client.get(f"/recalls/{case['id']}/containers.csv")
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_file.data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 3
    exported = [e for e in access_events(session, world.users["safety"].id) if e.action == "patient_data.exported"]
    assert [(e.details["list"], e.details["format"]) for e in exported] == [("patients", "xlsx"),
                                                                            ("containers", "csv")]
    assert api("nurse").get(f"/recalls/{case['id']}/patients.csv").status_code == 403


def test_the_openapi_document_lists_the_recall_operations(api):
    paths = api().get("/openapi.json").get_json()["paths"]
    for path in ("/api/v1/lots/{lot_id}/trace", "/api/v1/patients/{patient_id}/lots", "/api/v1/trace",
                 "/api/v1/lots/{lot_id}/quarantine", "/api/v1/lots/{lot_id}/release", "/api/v1/recalls",
                 "/api/v1/recalls/{case_id}", "/api/v1/recalls/{case_id}/patients/{patient_id}",
                 "/api/v1/recalls/{case_id}/containers/{container_id}", "/api/v1/recalls/{case_id}/close"):
        assert path in paths, path
    assert paths["/api/v1/lots/{lot_id}/trace"]["get"]["x-vialog-permission"] == "recall"


def test_the_lot_trace_json_is_the_response_models_json_byte_for_byte(api, data, world, session):
    """The lot trace endpoints build their JSON from plain data, not a model per dose (recall/schemas.py)."""
    from recall.schemas import TraceLotOut, TraceSearchOut, lot_trace_json, trace_search_json  # after the app

    rh.reverse(world, data.draw)
    (trace,) = queries.lot_traces(session, [data.lot], Scope.everything())
    model = TraceLotOut.of(trace)
    assert lot_trace_json(trace) == model.model_dump_json().encode()
    search = TraceSearchOut(query="c3709c3", lots=[model])
    assert trace_search_json("c3709c3", [trace]) == search.model_dump_json().encode()
    response = api("safety").get(f"/lots/{data.lot.id}/trace")
    assert response.mimetype == "application/json"
    assert TraceLotOut.model_validate_json(response.data) == model
