"""Transfer pages: the receiver ticks what arrived (all ticked to start with); unticking asks why and a
confirmation, then receives the rest and declares the others missing in transit. Both clinics' pages, the lists
and the container's history say so; a refused or tampered form writes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, ContainerState, Movement
from inventory.services import audit_chain
from inventory.transfers.models import Transfer, TransferStatus
from tests.factories import NOW, send_transfer
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def box_of_three(world, session) -> tuple[Transfer, list[Container]]:
    vials = world.receive(lot="BOX3", containers=3).containers
    transfer = send_transfer(world, vials, user="clinic_manager")
    world.nyc_manager()
    session.flush()
    return transfer, vials


def written(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Movement)),
            session.scalar(select(func.count()).select_from(AuditEvent)))


def receive_form(client, transfer, world, *arrived: Container, **extra: str) -> dict:
    return {"csrf_token": csrf_token(client, f"/transfers/{transfer.id}"), "itemized": "1",
            "location_id": str(world.location("Fridge", world.other_clinic).id),
            "arrived": [str(c.id) for c in arrived]} | extra


def test_the_receiver_sees_every_container_ticked_as_arrived(browser_client, world, session):
    transfer, vials = box_of_three(world, session)
    page = browser_client("nyc_manager").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    for vial in vials:
        assert re.search(rf'<input type="checkbox" name="arrived" value="{vial.id}" id="arrived-{vial.id}" checked>',
                         page), vial.label_code
    assert 'name="itemized"' in page and 'name="missing_reason"' in page
    assert 'name="confirm_missing"' not in page  # asked only once something is unticked
    assert "style=" not in page and "<script>" not in page  # the CSP forbids inline style and script
    sender = browser_client("clinic_manager").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert 'name="arrived"' not in sender


def test_unticking_asks_why_then_to_confirm_and_only_then_writes(browser_client, world, session):
    transfer, (first, second, lost) = box_of_three(world, session)
    nyc = browser_client("nyc_manager")
    before = written(session)

    no_reason = nyc.post(f"/transfers/{transfer.id}/receive", data=receive_form(nyc, transfer, world, first, second))
    html = no_reason.get_data(as_text=True)
    assert no_reason.status_code == 422 and "Say why the unticked containers are missing" in html
    assert re.search(rf'name="arrived" value="{lost.id}" id="arrived-{lost.id}">', html)  # still unticked
    asked = nyc.post(f"/transfers/{transfer.id}/receive", data=receive_form(
        nyc, transfer, world, first, second, missing_reason="slot empty in the box"))
    html = asked.get_data(as_text=True)
    assert asked.status_code == 422 and 'id="confirm_missing"' in html
    assert f"Not ticked: {lost.label_code}" in html and "slot empty in the box" in html
    assert written(session) == before
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT

    done = nyc.post(f"/transfers/{transfer.id}/receive", data=receive_form(
        nyc, transfer, world, first, second, missing_reason="slot empty in the box", confirm_missing="y"))
    assert done.status_code == 302 and done.location.endswith(f"/transfers/{transfer.id}")
    page = nyc.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert (f"Received 2 containers into Fridge. 1 declared missing in transit ({lost.label_code}): written off at "
            f"{world.clinic.name}.") in page
    assert "Received, 1 missing in transit" in page and "slot empty in the box" in page
    assert page.count("missing in transit</span>, written off") == 1 and 'name="arrived"' not in page
    session.expire_all()
    assert session.get(Container, lost.id).state is ContainerState.DISCARDED
    assert {session.get(Container, c.id).clinic_id for c in (first, second)} == {world.other_clinic.id}
    assert audit_chain.find_chain_breaks(session)[0] == []


def test_both_clinics_see_it_missing_in_their_lists_pages_and_the_senders_history(browser_client, world, session):
    transfer, (first, second, lost) = box_of_three(world, session)
    nyc = browser_client("nyc_manager")
    nyc.post(f"/transfers/{transfer.id}/receive", data=receive_form(
        nyc, transfer, world, first, second, missing_reason="slot empty in the box", confirm_missing="y"))

    lon = browser_client("clinic_manager")
    for client in (nyc, lon):
        assert "Received, 1 missing in transit" in client.get("/transfers").get_data(as_text=True)
        detail = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
        assert "Missing in transit" in detail and "slot empty in the box" in detail
        assert "missing in transit</span>, written off at LON" in detail
    # The vial is London's record: its history says it left, never arrived, and was written off, and why.
    history = lon.get(f"/containers/{lost.label_code}").get_data(as_text=True)
    assert "discarded" in history and history.count("missing_in_transit") == 2
    assert "never arrived at NYC" in history and "slot empty in the box" in history
    assert nyc.get(f"/containers/{lost.label_code}").status_code == 404


def test_a_form_without_the_list_receives_everything_as_before(browser_client, world, session):
    transfer, vials = box_of_three(world, session)
    nyc = browser_client("nyc_manager")
    response = nyc.post(f"/transfers/{transfer.id}/receive", data={
        "csrf_token": csrf_token(nyc, f"/transfers/{transfer.id}"),
        "location_id": str(world.location("Fridge", world.other_clinic).id)})
    assert response.status_code == 302
    assert "Received 3 containers into Fridge." in nyc.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    session.expire_all()
    assert {session.get(Container, c.id).state for c in vials} == {ContainerState.SEALED}


def test_a_tampered_list_is_refused_and_nothing_is_received(browser_client, world, session):
    transfer, (first, second, lost) = box_of_three(world, session)
    shelf = world.container(lot="SHELF1")
    nyc = browser_client("nyc_manager")
    before = written(session)
    form = receive_form(nyc, transfer, world, first, second, lost, missing_reason="x", confirm_missing="y")
    form["arrived"] = [*form["arrived"], str(shelf.id)]
    response = nyc.post(f"/transfers/{transfer.id}/receive", data=form)
    assert response.status_code == 422 and f"is not a container of transfer {transfer.id}" in response.get_data(
        as_text=True)
    assert written(session) == before
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT
    nothing = nyc.post(f"/transfers/{transfer.id}/receive", data=receive_form(
        nyc, transfer, world, missing_reason="box empty", confirm_missing="y"))
    assert nothing.status_code == 422 and "Nothing of transfer" in nothing.get_data(as_text=True)
    assert written(session) == before


def test_the_sending_clinic_cannot_declare_missing(browser_client, world, session):
    transfer, (first, second, _) = box_of_three(world, session)
    lon = browser_client("clinic_manager")
    before = written(session)
    response = lon.post(f"/transfers/{transfer.id}/receive", data=receive_form(
        lon, transfer, world, first, second, missing_reason="not in the box", confirm_missing="y"))
    assert response.status_code == 403
    assert written(session) == before
