"""The recall API shows a container on its way between clinics as on the road, with its transfer,
and keep every field they answered before."""

from __future__ import annotations

import pytest

from inventory.services.permissions import Scope
from recall import queries
from tests import factories

CONTRACT_FIELDS = {"id", "label_code", "clinic_id", "clinic_code", "location_id", "location", "state", "remaining",
                   "base_unit", "patient_id"}


@pytest.fixture
def road(world, session):
    on_shelf, on_road = world.receive("botox", lot="ROAD1", containers=2).containers
    transfer = factories.send_transfer(world, [on_road])
    session.flush()
    return {"shelf": on_shelf, "vial": on_road, "transfer": transfer, "lot_id": on_road.lot_id}


def test_a_lot_trace_answers_the_vial_in_transit_with_its_transfer(api, world, road):
    response = api("safety").get(f"/lots/{road['lot_id']}/trace")

    assert response.status_code == 200, response.get_json()
    lines = {c["id"]: c for c in response.get_json()["containers"]}
    vial = lines[road["vial"].id]
    assert CONTRACT_FIELDS <= set(vial)
    assert (vial["state"], vial["clinic_code"], vial["location_id"], vial["remaining"]) == (
        "in_transit", "LON", road["vial"].location_id, "0")
    assert vial["in_transit"] is True
    assert vial["transfer"] == {
        "id": road["transfer"].id, "status": "in_transit", "from_clinic_id": world.clinic.id, "from_clinic_code": "LON",
        "to_clinic_id": world.other_clinic.id, "to_clinic_code": "NYC", "to_location": "Fridge",
        "sent_at": "2026-06-15T09:30:00Z", "sent_local_at": "2026-06-15T10:30:00+01:00", "quantity": "100",
    }
    shelf = lines[road["shelf"].id]
    assert (shelf["in_transit"], shelf["transfer"]) == (False, None)


def test_the_trace_json_with_a_vial_in_transit_is_the_models_json_byte_for_byte(api, session, road):
    from recall.schemas import TraceLotOut, lot_trace_json  # after the app

    (trace,) = queries.lot_traces(session, queries.lots_by_ids(session, [road["lot_id"]]), Scope.everything())
    assert lot_trace_json(trace) == TraceLotOut.of(trace).model_dump_json().encode()
    assert TraceLotOut.model_validate_json(api("safety").get(f"/lots/{road['lot_id']}/trace").data) == \
        TraceLotOut.of(trace)


def test_a_trace_by_lot_number_answers_the_same(api, road):
    body = api("safety").get("/trace?lot=road1").get_json()
    (lot,) = body["lots"]
    assert {c["id"]: c["in_transit"] for c in lot["containers"]} == {road["vial"].id: True, road["shelf"].id: False}


def test_a_recall_case_answers_its_vial_in_transit(api, road):
    lead = api("safety")
    opened = lead.post("/recalls", {"lot_ids": [road["lot_id"]], "reason": "counterfeit alert",
                                    "recall_class": "I", "source": "regulator"})
    assert opened.status_code == 201, opened.get_json()
    for body in (opened.get_json(), lead.get(f"/recalls/{opened.get_json()['id']}").get_json()):
        lines = {c["container_id"]: c for c in body["containers"]}
        vial = lines[road["vial"].id]
        assert (vial["state"], vial["location"], vial["in_transit"]) == ("in_transit", "Fridge", True)
        assert (vial["transfer"]["id"], vial["transfer"]["to_clinic_code"]) == (road["transfer"].id, "NYC")
        assert (lines[road["shelf"].id]["in_transit"], lines[road["shelf"].id]["transfer"]) == (False, None)


def test_the_openapi_document_describes_the_new_fields(api):
    schemas = api("safety").get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("TraceContainerOut-Output", "RecallContainerOut-Output"):
        assert {"in_transit", "transfer"} <= set(schemas[name]["properties"]), name

