"""Every API error body carries ``details``, an object ({} when there is nothing more to say: json_error), and the
OpenAPI document says so: ErrorBody.details is required and an object, never null (it said optional, object or
null, default null)."""

from __future__ import annotations

from tests.api.conftest import error_code


def test_the_document_says_every_error_body_carries_details_as_an_object(api, world):
    document = api().get("/openapi.json").get_json()
    error_out = document["paths"]["/api/v1/scans"]["post"]["responses"]["422"]["content"]["application/json"]
    assert error_out["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}
    details = body["properties"]["details"]
    assert details["type"] == "object"
    assert "anyOf" not in details and details.get("default") is None  # no null, no default of null


def test_an_error_with_nothing_more_to_say_carries_empty_details(api, world):
    for answer in (api().get("/containers/1"), api().get("/containers/1", headers={"Authorization": "Bearer x"})):
        assert error_code(answer) == "unauthorized"
        assert answer.get_json()["error"]["details"] == {}, answer.get_json()
