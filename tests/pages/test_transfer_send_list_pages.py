"""The send page's list: a scan is refused then, by the rule Send applies, naming the container (another clinic's,
already on the road, on hold, of a quarantined lot, empty, listed already); the list is kept on the server, so
each scan is answered with a redirect and a GET of the page (a reload, Back) shows it again."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inventory.models import Container, ContainerState, LotStatus, Role
from inventory.transfers.models import Transfer
from tests.factories import NOW, make_user, send_transfer
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

NEW = "/transfers/new"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


@pytest.fixture
def both_clinics(world, session, browser_client):
    """A manager who works at London and New York, on the send page: ``scan(code)`` posts a scan as Enter in the
    scan field does, and answers the page it lands on."""
    world.users["both"] = make_user(session, "both-manager", Role.MANAGER, [world.clinic, world.other_clinic])
    session.flush()
    client = browser_client("both")
    form = _form(client.get(NEW).get_data(as_text=True))

    def scan(code: str, **extra: str):
        response = client.post(NEW, data=form | {"code": code} | extra)
        assert response.status_code == 303 and response.location.startswith(f"{NEW}?box=")
        form["box"] = response.location.split("box=")[1]
        return client.get(response.location)

    scan.client = client  # type: ignore[attr-defined]
    scan.form = form  # type: ignore[attr-defined]
    return scan


def _form(html: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input[^>]*name="(csrf_token|form_key|box)"[^>]*value="([^"]*)"', html))
    assert set(fields) == {"csrf_token", "form_key", "box"}, fields
    return fields


def _listed(html: str) -> list[str]:
    return re.findall(r'<td class="mono">(VL\w+)</td>', html)


def test_another_clinics_container_is_refused_at_scan_time_naming_it_and_where_it_is(both_clinics, world, session):
    lon_vial = world.container(lot="LON1")
    nyc_vial = world.container(location=world.location("Fridge", world.other_clinic), lot="NYC1")
    session.flush()
    assert _listed(both_clinics(lon_vial.label_code).get_data(as_text=True)) == [lon_vial.label_code]

    html = both_clinics(nyc_vial.label_code).get_data(as_text=True)

    assert (f"{nyc_vial.label_code} (Botox Cosmetic 100 U) is at NYC · Fridge, not at LON: a box from LON takes "
            "LON&#39;s stock only.") in html
    assert 'data-code="mixed_source_clinics"' in html
    assert _listed(html) == [lon_vial.label_code]


@pytest.mark.parametrize(("make", "words"), [
    ("on_the_road", "is already on its way to another clinic."),
    ("on_hold", "is on hold: too warm. Do not send it until a safety lead releases it."),
    ("quarantined", "Lot Q1 of Botox Cosmetic 100 U is quarantined"),
    ("empty", "is empty: there is nothing to send."),
    ("listed", "(Botox Cosmetic 100 U) is already on the list: each container is sent once."),
])
def test_a_scan_send_would_refuse_is_refused_at_scan_time_and_stays_off_the_list(both_clinics, world, session,
                                                                                  make, words):
    first = world.container(lot="LON1")
    vial = first if make == "listed" else world.container(lot="Q1" if make == "quarantined" else "LON2")
    if make == "on_the_road":
        send_transfer(world, [vial])
    elif make == "on_hold":
        vial.on_hold_since, vial.hold_reason = NOW, "too warm"
    elif make == "quarantined":
        vial.lot.status = LotStatus.QUARANTINED
    elif make == "empty":
        vial.state = ContainerState.EMPTY
    session.flush()
    both_clinics(first.label_code)

    html = both_clinics(vial.label_code).get_data(as_text=True)

    assert words in html and vial.label_code in html
    assert _listed(html) == [first.label_code]


def test_send_names_each_container_that_is_not_the_sending_clinics(both_clinics, world, session):
    """A forged form, or a list built before the rule: Send refuses the box, naming every container of another
    clinic (the first container's clinic is the box's)."""
    lon_vial = world.container(lot="LON1")
    nyc_fridge, nyc_room = world.location("Fridge", world.other_clinic), world.location("Room 1", world.other_clinic)
    nyc_vials = [world.container(location=nyc_fridge, lot="NYC1"), world.container(location=nyc_room, lot="NYC2")]
    session.flush()
    both_clinics(lon_vial.label_code)
    client, form = both_clinics.client, both_clinics.form
    with client.session_transaction() as cookie:  # as a tampered session or a list kept from before would have it
        cookie["vialog_transfer_boxes"] = [[form["box"], [lon_vial.id, *(v.id for v in nyc_vials)], 0, ""]]

    response = client.post(NEW, data=form | {"action": "send", "to_location_id": str(nyc_fridge.id)})

    assert response.status_code == 303
    html = client.get(response.location).get_data(as_text=True)
    first, second = nyc_vials
    assert (f"{first.label_code} (Botox Cosmetic 100 U) is at NYC · Fridge and {second.label_code} "
            "(Botox Cosmetic 100 U) at NYC · Room 1, not at LON: a box from LON takes LON&#39;s stock only.") in html
    assert session.scalar(select(func.count()).select_from(Transfer)) == 0


def test_the_list_survives_a_reload_and_is_sent_from_it(both_clinics, world, session):
    first, second = world.receive(containers=2).containers
    session.flush()
    nyc_fridge = world.location("Fridge", world.other_clinic)
    both_clinics(first.label_code, to_location_id=str(nyc_fridge.id), note="box 1")
    page = both_clinics(second.label_code.lower(), to_location_id=str(nyc_fridge.id), note="box 1")
    client, form = both_clinics.client, both_clinics.form

    again = client.get(f"{NEW}?box={form['box']}").get_data(as_text=True)  # a reload, or Back to it

    assert _listed(again) == _listed(page.get_data(as_text=True)) == [first.label_code, second.label_code]
    assert f'<option selected value="{nyc_fridge.id}">' in again and "box 1</textarea>" in again
    assert _listed(client.get(NEW).get_data(as_text=True)) == []  # a new form: a new box

    removed = client.post(NEW, data=form | {"remove": str(second.id)})
    assert _listed(client.get(removed.location).get_data(as_text=True)) == [first.label_code]
    fresh = _form(client.get(removed.location).get_data(as_text=True))  # the key the page shows now
    sent = client.post(NEW, data=form | fresh | {"action": "send", "to_location_id": str(nyc_fridge.id),
                                                 "note": "box 1", "containers": [str(first.id)]})
    transfer = session.scalars(select(Transfer)).one()
    assert sent.location == f"/transfers/{transfer.id}" and [i.container_id for i in transfer.items] == [first.id]
    assert _listed(client.get(f"{NEW}?box={form['box']}").get_data(as_text=True)) == []  # sent: the box is done


def test_send_refuses_a_list_other_than_the_one_the_page_showed(both_clinics, world, session):
    first, second = world.receive(containers=2).containers
    session.flush()
    both_clinics(first.label_code)
    shown = dict(both_clinics.form)  # this tab shows the first container only
    both_clinics(second.label_code)  # the same box, scanned onto in another tab

    response = both_clinics.client.post(NEW, data=shown | {
        "action": "send", "containers": [str(first.id)],
        "to_location_id": str(world.location("Fridge", world.other_clinic).id)})

    html = both_clinics.client.get(response.location).get_data(as_text=True)
    assert "The list changed in another window since this page was shown" in html
    assert _listed(html) == [first.label_code, second.label_code]
    assert session.scalar(select(func.count()).select_from(Container).where(
        Container.state == ContainerState.IN_TRANSIT)) == 0


def test_a_scan_posted_without_a_box_key_starts_a_box(browser_client, world, session):
    (vial,) = world.receive().containers
    session.flush()
    client = browser_client("clinic_manager")
    response = client.post(NEW, data={"csrf_token": csrf_token(client, NEW), "code": vial.label_code})
    assert response.status_code == 303
    assert _listed(client.get(response.location).get_data(as_text=True)) == [vial.label_code]
