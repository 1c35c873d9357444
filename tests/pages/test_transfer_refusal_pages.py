"""Transfer pages: the destination refuses beside Receive (a reason required); the sender sees why and records the
return; the lists show refused transfers and their reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Container, ContainerState, Role
from inventory.services import ledger
from inventory.transfers.models import RefusalCategory, Transfer, TransferStatus
from tests.factories import NOW, make_clinic, make_user, send_transfer
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def london_to_new_york(world, session, lot: str = "BOX1") -> tuple[Transfer, Container]:
    (container,) = world.receive(lot=lot).containers
    transfer = send_transfer(world, [container], user="clinic_manager")
    world.nyc_manager()
    session.flush()
    return transfer, container


def test_the_destination_refuses_beside_receive_with_a_reason(browser_client, world, session):
    transfer, container = london_to_new_york(world, session)
    nyc = browser_client("nyc_manager")
    page = nyc.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert page.index("<h2>Receive</h2>") < page.index("<h2>Refuse</h2>")
    assert f'action="/transfers/{transfer.id}/refuse"' in page and 'name="reason"' in page
    assert '<option value="temperature">' in page and "Record the return" not in page
    assert "style=" not in page and "<script>" not in page  # the CSP forbids inline style and script
    token = csrf_token(nyc, f"/transfers/{transfer.id}")

    no_reason = nyc.post(f"/transfers/{transfer.id}/refuse", data={"csrf_token": token, "category": "damaged",
                                                                  "reason": "  "})
    assert no_reason.status_code == 422 and "Say why the transfer is refused." in no_reason.get_data(as_text=True)
    session.expire_all()
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT

    response = nyc.post(f"/transfers/{transfer.id}/refuse", data={
        "csrf_token": token, "category": "temperature", "reason": "logger shows 14 °C"})
    assert response.status_code == 302 and response.location.endswith(f"/transfers/{transfer.id}")
    page = nyc.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert f"Transfer {transfer.id} refused: nothing entered Clinic NYC&#39;s stock." in page
    assert "Refused, on its way back" in page and "logger shows 14 °C" in page
    assert "Too warm or too cold (cold chain broken)" in page and "on the way back" in page
    # Refused, it offers nothing more to the destination: no Receive, no Refuse, no return to record.
    assert f'action="/transfers/{transfer.id}/receive"' not in page
    assert f'action="/transfers/{transfer.id}/refuse"' not in page
    assert f'action="/transfers/{transfer.id}/cancel"' not in page
    session.expire_all()
    refused = session.get(Transfer, transfer.id)
    assert (refused.status, refused.refusal_category, refused.refusal_reason, refused.refused_by_id) == (
        TransferStatus.REFUSED, RefusalCategory.TEMPERATURE, "logger shows 14 °C", world.users["nyc_manager"].id)
    assert session.get(Container, container.id).state is ContainerState.IN_TRANSIT

    again = nyc.post(f"/transfers/{transfer.id}/refuse", data={"csrf_token": token, "category": "other",
                                                               "reason": "twice"})
    assert again.status_code == 409 and 'data-code="transfer_refused"' in again.get_data(as_text=True)


def test_the_sender_sees_why_and_records_the_return_from_the_list_or_the_page(browser_client, world, session):
    transfer, container = london_to_new_york(world, session)
    nyc = browser_client("nyc_manager")
    nyc.post(f"/transfers/{transfer.id}/refuse", data={
        "csrf_token": csrf_token(nyc, f"/transfers/{transfer.id}"), "category": "temperature",
        "reason": "box warm on arrival"})

    lon = browser_client("clinic_manager")
    listing = lon.get("/transfers").get_data(as_text=True)
    outgoing = listing[listing.index("<h2>Outgoing</h2>"):]
    assert "Refused, on its way back" in outgoing and "box warm on arrival" in outgoing
    assert f'href="/transfers/{transfer.id}#record-return">Record return</a>' in outgoing
    # New York refused it; it has no return to record.
    assert "Record return" not in nyc.get("/transfers").get_data(as_text=True)

    page = lon.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "<h2>Record the return</h2>" in page and "box warm on arrival" in page
    assert "comes back on hold" in page and "<h2>Call it back</h2>" not in page
    assert f'action="/transfers/{transfer.id}/refuse"' not in page
    response = lon.post(f"/transfers/{transfer.id}/cancel", data={"csrf_token": csrf_token(lon, "/transfers")})
    assert response.status_code == 302
    page = lon.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert f"Return of transfer {transfer.id} recorded: 1 container is in Clinic LON&#39;s stock again." in page
    assert "1 container is on hold until a safety lead releases or wastes them." in page
    assert "Refused and returned" in page and "recorded by lon-manager" in page
    session.expire_all()
    back = session.get(Container, container.id)
    assert (back.state, back.clinic_id, back.on_hold_since is not None) == (ContainerState.SEALED,
                                                                            world.clinic.id, True)
    assert session.get(Transfer, transfer.id).status is TransferStatus.RETURNED
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "transfer.returned")) is not None
    assert ledger.find_balance_mismatches(session) == []


def test_only_a_destination_manager_refuses_and_a_third_clinic_is_not_found(browser_client, world, session):
    transfer, _ = london_to_new_york(world, session)
    nurse = browser_client("other_nurse")
    token = csrf_token(nurse, "/cart")
    assert nurse.post(f"/transfers/{transfer.id}/refuse", data={"csrf_token": token, "category": "other",
                                                                "reason": "warm"}).status_code == 403
    # The sender sees the transfer but is not offered, nor allowed, a refusal.
    lon = browser_client("clinic_manager")
    assert f'action="/transfers/{transfer.id}/refuse"' not in lon.get(f"/transfers/{transfer.id}").get_data(
        as_text=True)
    refused = lon.post(f"/transfers/{transfer.id}/refuse", data={
        "csrf_token": csrf_token(lon, "/transfers"), "category": "other", "reason": "warm"})
    assert refused.status_code == 403 and 'data-code="receiving_clinic_only"' in refused.get_data(as_text=True)
    world.users["par_manager"] = make_user(session, "par-manager", Role.MANAGER,
                                           [make_clinic(session, "PAR", "Europe/Paris")])
    session.flush()
    paris = browser_client("par_manager")
    assert paris.get(f"/transfers/{transfer.id}").status_code == 404
    assert paris.post(f"/transfers/{transfer.id}/refuse", data={
        "csrf_token": csrf_token(paris, "/transfers"), "category": "other", "reason": "warm"}).status_code == 404
    session.expire_all()
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT
