"""The recall API answers a patient already notified in an earlier case as such, and lets the case close."""

from __future__ import annotations

import pytest

from tests.integration.test_recall_notified_before import HOUR, Story
from tests.factories import NOW


@pytest.fixture
def story(world):
    return Story(world)


def patients_of(body: dict) -> dict[int, dict]:
    return {p["patient"]["id"]: p for p in body["patients"]}


def test_a_new_case_answers_the_earlier_notification_and_closes_without_redoing_it(api, world, story):
    lead = api("safety")
    opened = lead.post("/recalls", {"lot_ids": [story.lot.id], "reason": "Notice 2", "recall_class": "II",
                                    "source": "manufacturer"})
    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()

    lines = patients_of(case)
    ann, ned = lines[story.ann.id], lines[story.ned.id]
    told = {"case_id": story.first.id, "notified_at": (NOW + 2 * HOUR).isoformat().replace("+00:00", "Z"),
            "notified_by": story.lead.label, "method": "phone", "lot_ids": [story.lot.id]}
    assert (ann["status"], ann["method"], ann["carried_over"], ann["carried_from"]) == ("notified", "phone", True, told)
    assert ann["earlier_notifications"] == [told]
    assert f"recall case {story.first.id}" in ann["note"]
    assert (ned["status"], ned["carried_over"], ned["carried_from"], ned["earlier_notifications"]) == (
        "pending", False, None, [])
    assert (case["progress"]["patients_done"], case["progress"]["patients_total"]) == (2, 3)

    # Only Ned is left to do: the case closes once he is, nobody calls Ann or Bea twice.
    refused = lead.post(f"/recalls/{case['id']}/close")
    assert refused.status_code == 409 and refused.get_json()["error"]["details"]["patients_pending"] == 1
    assert lead.patch(f"/recalls/{case['id']}/patients/{story.ned.id}",
                      {"status": "notified", "method": "email"}).status_code == 200
    closed = lead.post(f"/recalls/{case['id']}/close")
    assert (closed.status_code, closed.get_json()["status"]) == (200, "closed")


def test_a_line_changed_on_the_new_case_answers_what_was_done_before(api, story):
    lead = api("safety")
    case = lead.post("/recalls", {"lot_ids": [story.lot.id], "reason": "Notice 2", "recall_class": "I",
                                  "source": "regulator"}).get_json()

    response = lead.patch(f"/recalls/{case['id']}/patients/{story.ann.id}", {"status": "pending"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["carried_over"], body["carried_from"]) == ("pending", False, None)
    assert [n["case_id"] for n in body["earlier_notifications"]] == [story.first.id]
