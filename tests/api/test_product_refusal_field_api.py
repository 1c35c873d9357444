"""QA: a manager's PATCH of a product's multi_patient was refused naming details.field "is_multi_patient", the model's
attribute, a field no request sends. A refusal names the field as the request sent it."""

from __future__ import annotations


def test_a_refusal_names_the_field_the_request_sent(api, world):
    botox = world.botox
    refused = api("manager").patch(f"/products/{botox.id}", {"multi_patient": True, "reason": "busy day"})
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["error"]["details"]["field"] == "multi_patient"

    limits = api("manager").patch(f"/products/{botox.id}", {"session_max_units": "500", "reason": "busy day"})
    assert limits.status_code == 403 and limits.get_json()["error"]["details"]["field"] == "session_max_units"
