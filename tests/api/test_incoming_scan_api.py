"""A nurse scanning a box that is on its way to her clinic but not yet received is told so, not to scan it
again: it becomes her clinic's stock when a manager receives it. A label of another clinic's container that is
not travelling to her clinic still reads as any unknown label, telling nothing of it."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.api.conftest import error_code
from tests.transfer_scenes import vial_on_its_way_to_new_york
from tests.factories import NOW, make_clinic, send_transfer, start_treatment

LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def on_the_road(world, session):
    return vial_on_its_way_to_new_york(world, session)


def scan(api, user, code):
    return api(user).post("/scans", {"code": code})


def test_a_box_on_its_way_here_says_so_and_who_must_receive_it(api, on_the_road):
    vial, transfer = on_the_road
    response = scan(api, "other_nurse", vial.label_code)

    assert (response.status_code, error_code(response)) == (404, "unknown_container")  # as before: not stock here
    error = response.get_json()["error"]
    assert error["message"] == (
        f"This {vial.label_code} (Botox Cosmetic 100 U, lot INC7) is on its way here from LON on transfer "
        f"#{transfer.id}: a manager must receive it before it is used.")
    assert error["details"] == {"label_code": vial.label_code, "transfer_id": transfer.id,
                                "transfer_status": "in_transit"}


def test_a_draw_naming_the_label_is_told_the_same(api, world, on_the_road):
    vial, transfer = on_the_road
    treatment = start_treatment(world, "NYC-1", user="other_nurse", clinic=world.other_clinic)
    response = api("other_nurse").post(f"/treatments/{treatment.id}/draws", {
        "container": vial.label_code, "quantity": "4", "unit": "U", "area": "glabella"})
    assert (response.status_code, error_code(response)) == (404, "unknown_container")
    assert f"on its way here from LON on transfer #{transfer.id}" in response.get_json()["error"]["message"]


def test_once_received_the_scan_finds_the_vial(api, world, session, on_the_road):
    vial, transfer = on_the_road
    manager = world.nyc_manager()
    clinic_transfers.receive(session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer.id, now=LATER)
    session.flush()
    response = scan(api, "other_nurse", vial.label_code)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["container"]["id"] == vial.id


def test_refused_and_on_its_way_back_the_refusing_clinic_is_told_it_is_not_its_stock(api, world, session,
                                                                                     on_the_road):
    vial, transfer = on_the_road
    manager = world.nyc_manager()
    clinic_transfers.refuse(session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer.id,
                            now=LATER, reason="box crushed")
    session.flush()
    response = scan(api, "other_nurse", vial.label_code)
    assert (response.status_code, error_code(response)) == (404, "unknown_container")
    assert response.get_json()["error"]["message"] == (
        f"This {vial.label_code} (Botox Cosmetic 100 U, lot INC7) was refused by NYC on transfer #{transfer.id} "
        "and is on its way back to LON: it is not stock of this clinic.")


def plain_unknown(label: str) -> dict:
    return {"code": "unknown_container", "details": {"label_code": label},
            "message": f"Label {label} is not a container of any clinic you work at. Scan the vial's Vialog label again."}


def test_another_clinics_vial_that_is_not_coming_here_reads_as_an_unknown_label(api, world, session, on_the_road):
    shelf = world.container("botox", lot="INC7")  # London's, on its shelf
    paris = make_clinic(session, "PAR", "Europe/Paris")
    to_paris = world.container("botox", lot="INC8")
    send_transfer(world, [to_paris], to=next(loc for loc in paris.locations if loc.name == "Fridge"))
    session.flush()

    for container in (shelf, to_paris):
        response = scan(api, "other_nurse", container.label_code)
        assert response.status_code == 404
        assert response.get_json()["error"] == plain_unknown(container.label_code)
        assert "INC" not in response.get_data(as_text=True) and "PAR" not in response.get_data(as_text=True)


def test_the_sending_clinic_still_scans_its_own_vial_on_the_road(api, on_the_road):
    vial, _ = on_the_road
    response = scan(api, "nurse", vial.label_code)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["container"]["state"] == "in_transit"
