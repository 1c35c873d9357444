"""Tracing a scanned code whose printed expiry is not the lot's on file warns, and still traces (QA: the trace took
such a box without a word, while receiving refuses the same mismatch as a counterfeit sign). One rule,
lifecycle.expiry_contradicts, for receiving and the trace."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest

from tests.api.conftest import error_code

MESSAGE = ("The code's expiry 2027-03-31 differs from this lot's expiry on file, 2027-06-30: the box may not be "
           "genuine; check it and tell the safety lead.")


@pytest.fixture
def lot(world):
    return world.container("botox", lot="C3709C3", expiry=dt.date(2027, 6, 30)).lot


def code(world, expiry: str) -> str:
    return f"]d201{world.botox.gtins[0].gtin}17{expiry}" "10C3709C3"


def test_the_qa_case_a_code_whose_expiry_is_not_the_lots_is_traced_with_a_warning(api, world, lot):
    response = api("safety").get("/trace", query_string={"lot": code(world, "270331")})
    assert response.status_code == 200
    body = response.get_json()
    assert [t["lot"]["id"] for t in body["lots"]] == [lot.id]  # the trace is not refused
    assert body["warnings"] == [{"code": "expiry_differs", "message": MESSAGE, "lot_id": lot.id,
                                 "expiry_given": "2027-03-31", "expiry_on_file": "2027-06-30",
                                 "expiry_raw": "270331"}]


def test_receiving_refuses_the_same_box_by_the_same_rule(api, world, lot):
    refused = api("manager").post("/receipts", {"code": code(world, "270331"), "containers": 1,
                                                "location_id": world.location().id, "supplier_id": world.supplier.id})
    assert (refused.status_code, error_code(refused)) == (409, "lot_expiry_conflict")


@pytest.mark.parametrize("expiry", ["270630", "270600"], ids=["same day", "day 00: the month's last day"])
def test_a_code_that_agrees_with_its_lot_warns_of_nothing(api, world, lot, expiry):
    body = api("safety").get("/trace", query_string={"lot": code(world, expiry)}).get_json()
    assert ([t["lot"]["id"] for t in body["lots"]], body["warnings"]) == ([lot.id], [])


def test_a_typed_number_or_a_label_warns_of_nothing(api, world, lot):
    lead = api("safety")
    assert lead.get("/trace", query_string={"lot": "c3709c3"}).get_json()["warnings"] == []
    label = world.container("botox", lot="C3709C3", expiry=dt.date(2027, 6, 30)).label_code
    assert lead.get(f"/trace?lot={quote(label)}").get_json()["warnings"] == []


def test_the_openapi_document_lists_the_warnings(api):
    document = api("safety").get("/openapi.json").get_json()
    search = document["components"]["schemas"]["TraceSearchOut-Output"]
    assert "warnings" in search["properties"]
    assert "expiry_differs" in str(document["components"]["schemas"]["TraceWarningOut"]["properties"]["code"])
