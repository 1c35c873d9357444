"""A transfer's other end sees only what travelled, never what the clinic that holds a container now does with it."""

from __future__ import annotations

import pytest

from tests.factories import draw, reconstitute, send_transfer, start_treatment
from tests.transfer_scenes import received_in_new_york_then_drawn_for_a_patient


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def only_item(body):
    (item,) = body["items"]
    return item


def test_the_sending_clinic_sees_only_what_it_sent_once_the_vial_is_used_at_the_destination(api, world, session):
    transfer, vial, patient_id = received_in_new_york_then_drawn_for_a_patient(world, session)
    london = api("clinic_manager")
    response = london.get(f"/transfers/{transfer.id}")
    assert response.status_code == 200, response.get_json()
    item = only_item(response.get_json())
    assert item["container_as_sent"] is True
    assert item["now_at_clinic"]["code"] == "NYC"
    # What the transfer records: the vial as it left London's fridge, sealed and full.
    assert item["container"] == item["container"] | {
        "id": vial.id, "label_code": vial.label_code, "state": "sealed", "remaining": "100", "patient_id": None,
        "clinic_id": world.clinic.id, "location_id": world.location("Fridge").id, "concentration_u_per_ml": None,
        "diluent_ml": None, "reconstituted_at": None, "beyond_use_at": None, "on_hold": False,
    }
    assert (item["container"]["lot"]["number"], item["container"]["product"]["name"], item["quantity"]) == (
        "C3709C3", "Botox Cosmetic 100 U", "100")
    assert "NYC-PATIENT-77" not in response.get_data(as_text=True)

    # The list shows the same, not the live vial.
    listed = london.get("/transfers").get_json()["transfers"]
    assert [only_item(t)["container"]["patient_id"] for t in listed] == [None]
    assert [only_item(t)["container"]["state"] for t in listed] == ["sealed"]


@pytest.mark.parametrize("who", ["nyc_manager", "manager"])
def test_the_destination_and_chain_level_users_still_see_the_vial_as_it_is(api, world, session, who):
    transfer, vial, patient_id = received_in_new_york_then_drawn_for_a_patient(world, session)
    client = api(world.nyc_manager() if who == "nyc_manager" else who)
    for body in (client.get(f"/transfers/{transfer.id}").get_json(),
                 client.get("/transfers").get_json()["transfers"][0]):
        item = only_item(body)
        assert (item["container_as_sent"], item["now_at_clinic"]) == (False, None)
        container = item["container"]
        assert (container["patient_id"], container["state"], container["remaining"], container["clinic_id"],
                container["location_id"]) == (patient_id, "in_use", "96", world.other_clinic.id,
                                              world.location("Fridge", world.other_clinic).id)
        assert container["concentration_u_per_ml"] is not None


def test_after_a_refused_transfer_returns_the_destination_does_not_see_the_sources_later_use(api, world, session):
    vial = world.container()
    transfer = send_transfer(world, [vial], user="clinic_manager")
    nyc = api(world.nyc_manager())
    on_the_road = only_item(nyc.get(f"/transfers/{transfer.id}").get_json())
    # While on the road the vial is no clinic's stock: both ends see it in transit.
    assert (on_the_road["container_as_sent"], on_the_road["container"]["state"]) == (False, "in_transit")
    refused = nyc.post(f"/transfers/{transfer.id}/refuse", {"reason": "box crushed", "category": "damaged"})
    assert refused.status_code == 200 and only_item(refused.get_json())["container_as_sent"] is False
    london = api("clinic_manager")
    returned = london.post(f"/transfers/{transfer.id}/cancel")
    assert returned.status_code == 200, returned.get_json()
    assert only_item(returned.get_json())["container"]["state"] == "sealed"  # London's again: live
    treatment = start_treatment(world, "LON-PATIENT-12")
    reconstitute(world, vial)
    draw(world, treatment, vial, "10")
    session.flush()

    response = nyc.get(f"/transfers/{transfer.id}")
    item = only_item(response.get_json())
    assert (item["container_as_sent"], item["now_at_clinic"]["code"]) == (True, "LON")
    assert (item["container"]["patient_id"], item["container"]["state"], item["container"]["remaining"],
            item["container"]["concentration_u_per_ml"]) == (None, "sealed", "100", None)
    assert "LON-PATIENT-12" not in response.get_data(as_text=True)
    live = only_item(london.get(f"/transfers/{transfer.id}").get_json())["container"]
    assert (live["patient_id"], live["state"], live["remaining"]) == (treatment.patient_id, "in_use", "90")
