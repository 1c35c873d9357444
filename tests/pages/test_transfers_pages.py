"""Transfer pages: the lists by direction, the send form built scan by scan, receiving, calling back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inventory.models import Container, ContainerState
from inventory.transfers.models import Transfer, TransferStatus
from tests.factories import NOW, make_clinic, send_transfer
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_form_once_pages import hidden


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def test_the_send_form_builds_its_list_scan_by_scan_and_sends_it(browser_client, world, session):
    first, second = world.receive(containers=2).containers
    opened = world.container(lot="OPEN1")
    opened.state = ContainerState.IN_USE
    session.flush()
    client = browser_client("clinic_manager")
    page = client.get("/transfers/new").get_data(as_text=True)
    assert 'class="scan"' in page and "autofocus" in page
    assert "style=" not in page and "<script>" not in page  # the CSP forbids inline style and script
    # A London manager may send to New York, though they cannot otherwise see its locations.
    assert "NYC · Fridge" in page and "LON · Fridge" not in page
    token = csrf_token(client, "/transfers/new")
    box = re.search(r'name="box" value="([^"]+)"', page).group(1)

    def scan(data):  # each scan is answered with a redirect to the page, which shows the list (kept by the server)
        posted = client.post("/transfers/new", data={"csrf_token": token, "box": box} | data)
        assert posted.status_code == 303 and posted.location == f"/transfers/new?box={box}"
        return client.get(posted.location).get_data(as_text=True)

    html = scan({"code": first.label_code, "action": "add"})
    assert f'name="containers" value="{first.id}"' in html
    html = scan({"code": opened.label_code, "action": "add"})
    assert "has been opened" in html and 'data-code="container_opened"' in html
    assert f'name="containers" value="{first.id}"' in html  # the list survives a refusal
    assert f'name="containers" value="{opened.id}"' not in html
    # Enter in the scan field presses the first button: Add.
    assert f'name="containers" value="{second.id}"' in scan({"code": second.label_code.lower()})
    assert f'name="containers" value="{second.id}"' not in scan({"remove": str(second.id)})
    scan({"code": second.label_code})

    no_place = scan({"to_location_id": "0", "action": "send"})
    assert "Choose where the stock is going." in no_place
    assert session.scalar(select(func.count()).select_from(Transfer)) == 0

    response = client.post("/transfers/new", data={
        "csrf_token": token, "box": box, "action": "send", "form_key": hidden(no_place, "form_key", "/transfers/new"),
        "to_location_id": str(world.location("Fridge", world.other_clinic).id), "note": "box 1",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    transfer = session.scalar(select(Transfer))
    assert response.location.endswith(f"/transfers/{transfer.id}")
    assert (transfer.status, transfer.note, len(transfer.items)) == (TransferStatus.IN_TRANSIT, "box 1", 2)
    detail = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    # Sent at 09:30 UTC: 10:30 in London (BST). London sent it, so it may call it back, not receive it.
    assert "15 Jun 2026 10:30 (LON time)" in detail
    assert "Call back" in detail and 'action="/transfers/%d/receive"' % transfer.id not in detail


def test_the_lists_show_incoming_and_outgoing_for_a_clinic_manager(browser_client, world, session):
    outgoing = send_transfer(world, [world.container()])
    nyc_vial = world.container(location=world.location("Fridge", world.other_clinic), lot="NYC1")
    incoming = send_transfer(world, [nyc_vial], to=world.location("Room 1"))
    html = browser_client("clinic_manager").get("/transfers").get_data(as_text=True)
    assert html.index("<h2>Incoming</h2>") < html.index(f"/transfers/{incoming.id}") < html.index("<h2>Outgoing</h2>")
    assert html.index("<h2>Outgoing</h2>") < html.index(f"/transfers/{outgoing.id}")
    assert "1 × Botox Cosmetic 100 U" in html and "In transit" in html
    chain = browser_client("manager").get("/transfers").get_data(as_text=True)
    assert "All transfers between clinics" in chain and "<h2>Incoming</h2>" not in chain


def test_the_list_filters_by_status_and_pages_back_through_settled_transfers(browser_client, world, session,
                                                                             monkeypatch):
    from inventory.services.permissions import Scope
    from inventory.transfers import pages
    from inventory.transfers import service as clinic_transfers

    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    nyc = world.nyc_manager()
    old, new = (send_transfer(world, world.receive(lot=f"PG{i}").containers, user="clinic_manager") for i in range(2))
    road = send_transfer(world, world.receive(lot="PG9").containers, user="clinic_manager")
    for transfer in (old, new):
        clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=NOW)
    session.flush()
    client = browser_client("clinic_manager")

    def listed(url):
        html = client.get(url).get_data(as_text=True)
        return [t.id for t in (road, new, old) if f'aria-label="Transfer {t.id}"' in html], html

    ids, html = listed("/transfers")
    assert ids == [road.id, new.id]  # on the road first, then one settled a page
    assert f"/transfers?direction=outgoing&amp;before={new.id}" in html and "Older outgoing" in html
    ids, html = listed(f"/transfers?direction=outgoing&before={new.id}")
    assert ids == [old.id] and "Incoming" not in html and "Older outgoing" not in html
    assert "Back to the newest" in html
    ids, html = listed("/transfers?status=received")
    assert ids == [new.id] and 'aria-current="page">Received<' in html
    ids, html = listed("/transfers?status=in_transit")
    assert ids == [road.id] and "No transfers in transit." in html  # the incoming list is empty
    assert listed("/transfers?status=nonsense&before=x")[0] == [road.id, new.id]


def test_the_receiving_clinic_receives_with_one_press_and_sees_new_york_time(browser_client, world, session):
    (container,) = world.receive().containers
    transfer = send_transfer(world, [container], user="clinic_manager")
    world.nyc_manager()
    session.flush()
    client = browser_client("manager")
    detail = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "on the road" in detail and "Put it away in" in detail
    token = csrf_token(client, f"/transfers/{transfer.id}")
    response = client.post(f"/transfers/{transfer.id}/receive", data={
        "csrf_token": token, "location_id": str(world.location("Fridge", world.other_clinic).id)})
    assert response.status_code == 302
    page = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "Received 1 container into Fridge." in page
    assert "15 Jun 2026 05:30 (NYC time)" in page
    again = client.post(f"/transfers/{transfer.id}/receive", data={
        "csrf_token": token, "location_id": str(world.location("Fridge", world.other_clinic).id)})
    assert again.status_code == 409 and "cannot be received or called back again" in again.get_data(as_text=True)
    session.expire_all()
    assert session.get(Container, container.id).clinic_id == world.other_clinic.id


def test_a_nurse_is_refused_and_another_clinics_transfer_is_not_found(browser_client, world, session):
    paris = make_clinic(session, "PAR", "Europe/Paris")
    nyc_vial = world.container(location=world.location("Fridge", world.other_clinic), lot="NYC1")
    transfer = send_transfer(world, [nyc_vial], to=next(loc for loc in paris.locations if loc.name == "Fridge"))
    assert browser_client("nurse").get("/transfers").status_code == 403
    lon = browser_client("clinic_manager")
    assert lon.get(f"/transfers/{transfer.id}").status_code == 404
    token = csrf_token(lon, "/transfers/new")
    assert lon.post(f"/transfers/{transfer.id}/cancel", data={"csrf_token": token}).status_code == 404
    assert f"/transfers/{transfer.id}" not in lon.get("/transfers").get_data(as_text=True)


def test_receiving_into_a_room_asks_to_confirm_a_box_kept_at_2_to_8(browser_client, world, session):
    (container,) = world.receive().containers
    transfer = send_transfer(world, [container], user="clinic_manager")
    session.flush()
    client = browser_client("manager")
    token = csrf_token(client, f"/transfers/{transfer.id}")
    form = {"csrf_token": token, "location_id": str(world.location("Room 1", world.other_clinic).id)}
    asked = client.post(f"/transfers/{transfer.id}/receive", data=form)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409 and 'data-code="location_not_refrigerated"' in page and 'id="keep_here"' in page
    assert 'id="keep_here"' not in client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    kept = client.post(f"/transfers/{transfer.id}/receive", data=form | {"keep_here": "y"})
    assert kept.status_code == 302
    session.expire_all()
    assert session.get(Transfer, transfer.id).status is TransferStatus.RECEIVED

