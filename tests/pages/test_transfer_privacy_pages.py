"""The transfer page shows the other end of a transfer only what travelled, not the later use of a container."""

from __future__ import annotations

import pytest

from tests.transfer_scenes import received_in_new_york_then_drawn_for_a_patient


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_the_sending_clinic_reads_now_at_new_york_and_nothing_of_the_vials_use(browser_client, world, session):
    transfer, vial, patient_id = received_in_new_york_then_drawn_for_a_patient(world, session)
    response = browser_client("clinic_manager").get(f"/transfers/{transfer.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert vial.label_code in html and "C3709C3" in html and "100 U" in html  # what was sent
    assert f"now at {world.other_clinic.name}" in html
    assert "NYC · Fridge, in use" not in html and ", in use" not in html
    assert "NYC-PATIENT-77" not in html and f"/patients/{patient_id}" not in html
    assert f'href="/containers/{vial.label_code}"' not in html  # London may not open New York's vial


@pytest.mark.parametrize("who", ["nyc_manager", "manager"])
def test_the_destination_and_chain_level_users_see_where_the_vial_is_and_its_state(browser_client, world, session,
                                                                                    who):
    transfer, vial, _ = received_in_new_york_then_drawn_for_a_patient(world, session)
    html = browser_client(who).get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "NYC · Fridge, in use" in html and "now at" not in html
    assert f'href="/containers/{vial.label_code}"' in html
