"""QA: a refused body answered in pydantic's words ("String should have at least 1 character", "List should have
at least 1 item after validation, not 0", "Extra inputs are not permitted", "Value error, ..."): each problem is now
said in plain words, with the same code and the same field."""

from __future__ import annotations

import pytest


def problem(response, field: str) -> str:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    fields = {f["field"]: f["problem"] for f in error["details"]["fields"]}
    assert error["message"].startswith(f"{error['details']['field']}: ")
    return fields[field]


def test_empty_text_and_empty_lists_are_said_in_words(api, world):
    safety = api("safety")
    assert problem(safety.post("/recalls", {"lot_ids": [], "reason": "Notice", "recall_class": "I",
                                           "source": "manufacturer"}), "lot_ids") == "name at least one"
    assert problem(safety.post("/holds/release", {"container_ids": [], "reason": "fine"}),
                   "container_ids") == "name at least one"
    lot = world.container("botox").lot
    assert problem(safety.post(f"/lots/{lot.id}/release", {"reason": ""}), "reason") == "cannot be empty"


def test_a_field_the_request_does_not_take_and_a_rule_of_two_fields(api):
    manager = api("manager")
    requirement = {"label": "Hyaluronidase", "product_kind": "hyaluronidase", "min_quantity": "1500"}
    extra = manager.post("/kit-templates", {"name": "Crash kit", "requirements": [requirement | {"unit": "U"}]})
    assert problem(extra, "requirements.0.unit") == "not a field of this request: leave it out"
    neither = manager.post("/kit-templates", {"name": "Crash kit", "requirements": [
        {"label": "Hyaluronidase", "min_quantity": "1500"}]})
    said = problem(neither, "requirements.0")
    assert said == "name either a product_id or a product_kind: one of the two, not both or neither"


@pytest.mark.parametrize(("query", "field", "said"), [
    ("limit=abc", "limit", "a whole number, such as 3"),
    ("limit=0", "limit", "1 or more"),
    ("limit=501", "limit", "500 or less"),
    ("kind=toxin", "kind", "one of 'neuromodulator', 'filler', 'hyaluronidase' or 'supply'"),
])
def test_a_query_out_of_range_says_what_it_takes(api, query, field, said):
    assert problem(api("manager").get(f"/stock?{query}"), field) == said
