"""Through the API: a count finds a vial of a recalled lot after its case closed. The count posts, the vial cannot
be used, GET /recalls and the closed case show it as stock no open case covers, and a new case on the lot
(POST /recalls) lists it."""

from __future__ import annotations

import pytest

from tests import factories
from tests.api.conftest import error_code


class Found:
    """Two Botox vials of lot QF1 in London: one recorded as dropped, the other returned for a Class II recall,
    whose case is closed."""

    def __init__(self, api, world):
        self.kept, self.lost = world.receive("botox", lot="QF1", containers=2).containers
        factories.waste(world, self.lost, "dropped", user="manager")
        self.world, self.lot_id = world, self.kept.lot_id
        self.safety = api("safety")
        opened = self.safety.post("/recalls", {"lot_ids": [self.lot_id], "reason": "Notice 19",
                                               "recall_class": "II", "source": "manufacturer"})
        assert opened.status_code == 201, opened.get_json()
        self.case_id = opened.get_json()["id"]
        assert self.safety.patch(f"/recalls/{self.case_id}/containers/{self.kept.id}",
                                 {"status": "returned"}).status_code == 200
        assert self.safety.post(f"/recalls/{self.case_id}/close").status_code == 200

    def count(self, api) -> dict:
        sheet = api("clinic_manager").post("/counts", {"location_id": self.world.location().id,
                                                        "lines": [{"container": self.lost.label_code,
                                                                   "counted": "100"}]})
        assert sheet.status_code == 201, sheet.get_json()
        posted = api("manager").post(f"/counts/{sheet.get_json()['id']}/post")
        assert posted.status_code == 200, posted.get_json()
        return posted.get_json()


@pytest.fixture
def found(api, world):
    return Found(api, world)


def test_the_count_posts_and_the_safety_lead_sees_the_stock_no_open_case_covers(api, found):
    assert found.safety.get("/recalls").get_json()["uncovered_stock"] == []

    count = found.count(api)

    assert count["status"] == "posted"
    vial = api("nurse").get(f"/containers/{found.lost.id}").get_json()
    assert (vial["remaining"], vial["state"], vial["lot"]["status"]) == ("100", "sealed", "recalled")
    (uncovered,) = found.safety.get("/recalls").get_json()["uncovered_stock"]
    assert (uncovered["lot"]["id"], uncovered["case_ids"]) == (found.lot_id, [found.case_id])
    assert [(c["id"], c["remaining"]) for c in uncovered["containers"]] == [(found.lost.id, "100")]
    closed = found.safety.get(f"/recalls/{found.case_id}").get_json()
    assert closed["status"] == "closed"
    assert [c["container_id"] for c in closed["containers"]] == [found.kept.id]  # its record stands
    assert [[c["id"] for c in u["containers"]] for u in closed["uncovered_stock"]] == [[found.lost.id]]


def test_the_found_vial_cannot_be_used(api, found, world):
    found.count(api)
    nurse = api("nurse")
    response = nurse.post(f"/containers/{found.lost.id}/reconstitute", {"diluent_ml": "2.5"})
    assert (response.status_code, error_code(response)) == (409, "lot_recalled")


def test_a_new_case_on_the_lot_lists_the_found_vial(api, found):
    found.count(api)

    opened = found.safety.post("/recalls", {"lot_ids": [found.lot_id], "reason": "found at the count",
                                            "recall_class": "II", "source": "internal"})

    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()
    assert case["id"] != found.case_id and case["uncovered_stock"] == []
    assert [(c["container_id"], c["status"], c["remaining"]) for c in case["containers"]] == [
        (found.lost.id, "open", "100")]
    assert found.safety.get("/recalls").get_json()["uncovered_stock"] == []
    assert found.safety.get(f"/recalls/{found.case_id}").get_json()["uncovered_stock"] == []
