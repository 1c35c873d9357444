"""The cart page continues a patient's open treatment (tests/pages/test_cart_form_once_pages.py); the API, as
documented, opens the treatment it is asked for."""

from __future__ import annotations

from inventory.models import utcnow
from tests.factories import start_treatment


def test_the_api_still_opens_a_second_treatment_for_a_patient_with_one_open(api, world, session):
    first = start_treatment(world, "P-API", at=utcnow())
    session.flush()
    response = api("nurse").post("/treatments", {"patient_id": first.patient_id,
                                                 "location_id": world.location("Room 1").id})
    assert response.status_code == 201 and response.get_json()["id"] != first.id
