"""A refused Idempotency-Key names its field once: ``details.fields`` gives the problem alone
([{"field": "Idempotency-Key", "problem": "at most 200 characters (this has 201)"}]), as every other refusal of the
API does (inventory/security.py), not "Idempotency-Key: at most ..." again; the message keeps the field's name."""

from __future__ import annotations

import pytest

from inventory.blueprints.api.core import MAX_IDEMPOTENCY_KEY
from tests.api.conftest import error_code

BODY = {"external_ref": "IK-1", "name": "Ada"}


@pytest.mark.parametrize("key, problem", [
    ("k" * (MAX_IDEMPOTENCY_KEY + 1), f"at most {MAX_IDEMPOTENCY_KEY} characters (this has {MAX_IDEMPOTENCY_KEY + 1})"),
    ("key\tone", "contains the invisible character U+0009 (this field takes one line): retype it rather than paste it"),
])
def test_a_refused_idempotency_key_gives_its_problem_without_its_name(api, world, key, problem):
    answer = api("nurse").post("/patients", BODY, headers={"Idempotency-Key": key})
    assert (answer.status_code, error_code(answer)) == (422, "validation_error")
    error = answer.get_json()["error"]
    assert error["message"] == f"Idempotency-Key: {problem}."
    assert error["details"] == {"field": "Idempotency-Key", "fields": [{"field": "Idempotency-Key", "problem": problem}]}
