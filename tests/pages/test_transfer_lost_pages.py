"""Transfer pages: a whole box lost on the road is declared lost from the transfer's page, at either end (once
refused, at the sender only), with a reason and a ticked confirmation; the page then says who declared it, when and
why, with every container missing in transit; the lists say "Lost in transit"; a nurse cannot; a form sent twice
declares once; the lot trace says where the containers went."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inventory.blueprints.pages.once import ALREADY_RECORDED
from inventory.models import AuditEvent, Container, ContainerState, Movement, Role
from inventory.transfers.models import Transfer, TransferStatus
from tests.factories import NOW, make_clinic, make_user, send_transfer
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_form_once_pages import hidden

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

REASON = "courier reports the parcel lost"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def box_of_three(world, session, lot: str = "LOSTBOX") -> tuple[Transfer, list[Container]]:
    vials = world.receive(lot=lot, containers=3).containers
    transfer = send_transfer(world, vials, user="clinic_manager")
    world.nyc_manager()
    session.flush()
    return transfer, vials


def written(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Movement)),
            session.scalar(select(func.count()).select_from(AuditEvent)))


def lost_form(client, transfer: Transfer, **fields: str) -> dict[str, str]:
    """The lost form's token and one-time key as the transfer's page renders them, with ``fields``."""
    action = f"/transfers/{transfer.id}/lost"
    html = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    return {"csrf_token": hidden(html, "csrf_token", action), "form_key": hidden(html, "form_key", action)} | fields


def offers_the_form(client, transfer: Transfer) -> bool:
    return f'action="/transfers/{transfer.id}/lost"' in client.get(f"/transfers/{transfer.id}").get_data(as_text=True)


def test_both_ends_are_offered_the_form_while_the_box_is_on_its_way(browser_client, world, session):
    transfer, _ = box_of_three(world, session)
    for who in ("clinic_manager", "nyc_manager"):
        page = browser_client(who).get(f"/transfers/{transfer.id}").get_data(as_text=True)
        form = page[page.index(f'action="/transfers/{transfer.id}/lost"'):]
        form = form[:form.index("</form>")]
        assert "<h2>Declare lost in transit</h2>" in page, who
        assert 'name="lost_reason"' in form and 'name="confirm_lost"' in form and 'name="csrf_token"' in form
        assert re.search(r'name="form_key" type="hidden" value="[A-Za-z0-9_-]{16,}"', form)
        # A clear warning of what it writes, before anything is pressed.
        assert "every container in it (3) is written off at Clinic LON as missing in transit, for good" in page
        assert "style=" not in page and "<script>" not in page  # the CSP forbids inline style and script


def test_the_lost_form_asks_by_its_tick_box_alone_and_calling_back_still_asks_in_the_browser(browser_client, world,
                                                                                               session):
    """One confirmation, the one the server checks: a browser dialog (data-confirm) before it asked twice."""
    transfer, _ = box_of_three(world, session)
    page = browser_client("clinic_manager").get(f"/transfers/{transfer.id}").get_data(as_text=True)
    lost = re.search(rf'<form [^>]*action="/transfers/{transfer.id}/lost"[^>]*>', page)
    assert lost is not None and "data-confirm" not in lost.group(0)
    assert 'name="confirm_lost"' in page
    call_back = re.search(rf'<form [^>]*action="/transfers/{transfer.id}/cancel"[^>]*>', page)
    assert call_back is not None and f'data-confirm="Call transfer {transfer.id} back to' in call_back.group(0)


def test_declaring_asks_a_reason_and_the_confirmation_then_writes_every_container_off(browser_client, world,
                                                                                        session):
    transfer, vials = box_of_three(world, session)
    nyc = browser_client("nyc_manager")
    before = written(session)

    no_reason = nyc.post(f"/transfers/{transfer.id}/lost", data=lost_form(nyc, transfer, lost_reason="  ",
                                                                           confirm_lost="y"))
    assert no_reason.status_code == 422 and "Say why the box is declared lost." in no_reason.get_data(as_text=True)
    scanned = nyc.post(f"/transfers/{transfer.id}/lost", data=lost_form(nyc, transfer, lost_reason=vials[0].label_code,
                                                                         confirm_lost="y"))
    assert scanned.status_code == 422
    assert f"{vials[0].label_code} is a vial&#39;s Vialog label, not a reason" in scanned.get_data(as_text=True)
    unconfirmed = nyc.post(f"/transfers/{transfer.id}/lost", data=lost_form(nyc, transfer, lost_reason=REASON))
    html = unconfirmed.get_data(as_text=True)
    assert unconfirmed.status_code == 422 and "Tick the confirmation" in html
    assert f'value="{REASON}"' in html  # the form as typed, to tick and send again
    assert written(session) == before
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT

    done = nyc.post(f"/transfers/{transfer.id}/lost", data=lost_form(nyc, transfer, lost_reason=REASON,
                                                                     confirm_lost="y"))
    assert done.status_code == 302 and done.location.endswith(f"/transfers/{transfer.id}")
    page = nyc.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert f"Transfer {transfer.id} declared lost in transit: 3 containers written off at Clinic LON." in page
    # New York declared it: said on New York's clock (09:30 UTC), as its refusal would be.
    assert re.search(r"<dt>Lost in transit</dt><dd[^>]*>declared by nyc-manager, 15 Jun 2026 05:30 \(NYC time\): "
                     rf'<span class="transfer-note transfer-lost-reason">{REASON}</span>', page)
    assert page.count("missing in transit</span>, written off at LON") == 3
    # Settled: nothing more is offered, to either end.
    for client in (nyc, browser_client("clinic_manager")):
        settled = client.get(f"/transfers/{transfer.id}").get_data(as_text=True)
        assert "Lost in transit" in settled
        for verb in ("receive", "refuse", "cancel", "lost"):
            assert f'action="/transfers/{transfer.id}/{verb}"' not in settled, verb
    session.expire_all()
    lost = session.get(Transfer, transfer.id)
    assert (lost.status, lost.lost_by_id, lost.lost_reason) == (
        TransferStatus.LOST, world.users["nyc_manager"].id, REASON)
    assert {session.get(Container, v.id).state for v in vials} == {ContainerState.DISCARDED}
    assert session.scalar(select(AuditEvent.details).where(AuditEvent.action == "transfer.lost"))["end"] == "receiving"

    again = nyc.post(f"/transfers/{transfer.id}/lost", data={"csrf_token": csrf_token(nyc, "/transfers"),
                                                               "lost_reason": "twice", "confirm_lost": "y"})
    assert again.status_code == 409 and 'data-code="transfer_lost"' in again.get_data(as_text=True)


def test_the_form_sent_twice_declares_once(browser_client, world, session):
    transfer, _ = box_of_three(world, session)
    lon = browser_client("clinic_manager")
    form = lost_form(lon, transfer, lost_reason=REASON, confirm_lost="y")
    first = lon.post(f"/transfers/{transfer.id}/lost", data=form)
    assert first.status_code == 302, first.get_data(as_text=True)
    second = lon.post(f"/transfers/{transfer.id}/lost", data=form)
    assert second.status_code == 302 and second.location == first.location
    assert ALREADY_RECORDED in lon.get(second.location).get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "transfer.lost")) == 1


def test_a_refused_box_lost_on_its_way_back_is_declared_lost_by_the_sender(browser_client, world, session):
    transfer, vials = box_of_three(world, session)
    nyc, lon = browser_client("nyc_manager"), browser_client("clinic_manager")
    nyc.post(f"/transfers/{transfer.id}/refuse", data={"csrf_token": csrf_token(nyc, f"/transfers/{transfer.id}"),
                                                        "category": "damaged", "reason": "box crushed"})
    assert not offers_the_form(nyc, transfer)  # it sent the box back: London awaits it
    page = lon.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "<h2>Record the return</h2>" in page and "on its way back from Clinic NYC" in page

    refused = nyc.post(f"/transfers/{transfer.id}/lost", data={"csrf_token": csrf_token(nyc, "/transfers"),
                                                                "lost_reason": REASON, "confirm_lost": "y"})
    assert refused.status_code == 403 and 'data-code="sending_clinic_only"' in refused.get_data(as_text=True)
    done = lon.post(f"/transfers/{transfer.id}/lost", data=lost_form(lon, transfer, lost_reason="return parcel lost",
                                                                     confirm_lost="y"))
    assert done.status_code == 302
    page = lon.get(f"/transfers/{transfer.id}").get_data(as_text=True)
    assert "declared by lon-manager" in page and "return parcel lost" in page and "box crushed" in page
    assert "<h2>Record the return</h2>" not in page
    session.expire_all()
    assert session.get(Transfer, transfer.id).status is TransferStatus.LOST
    assert {session.get(Container, v.id).state for v in vials} == {ContainerState.DISCARDED}


def test_the_form_is_not_offered_once_settled_nor_to_a_third_clinic_or_a_nurse(browser_client, world, session):
    received, _ = box_of_three(world, session, lot="RCVD1")
    nyc = browser_client("nyc_manager")
    nyc.post(f"/transfers/{received.id}/receive", data={"csrf_token": csrf_token(nyc, f"/transfers/{received.id}"),
                                                          "location_id": str(world.location("Fridge",
                                                                                            world.other_clinic).id)})
    assert not offers_the_form(nyc, received) and not offers_the_form(browser_client("clinic_manager"), received)

    transfer, _ = box_of_three(world, session)
    before = written(session)
    nurse = browser_client("other_nurse")
    assert nurse.get(f"/transfers/{transfer.id}").status_code == 403
    assert nurse.post(f"/transfers/{transfer.id}/lost", data={
        "csrf_token": csrf_token(nurse, "/cart"), "lost_reason": REASON, "confirm_lost": "y"}).status_code == 403
    world.users["par_manager"] = make_user(session, "par-manager", Role.MANAGER,
                                           [make_clinic(session, "PAR", "Europe/Paris")])
    session.flush()
    paris = browser_client("par_manager")
    assert paris.get(f"/transfers/{transfer.id}").status_code == 404
    assert paris.post(f"/transfers/{transfer.id}/lost", data={
        "csrf_token": csrf_token(paris, "/transfers"), "lost_reason": REASON, "confirm_lost": "y"}).status_code == 404
    assert written(session) == before
    assert session.get(Transfer, transfer.id).status is TransferStatus.IN_TRANSIT


def test_the_lists_say_lost_in_transit_and_filter_by_it(browser_client, world, session):
    transfer, _ = box_of_three(world, session)
    on_road, _ = box_of_three(world, session, lot="ROAD1")
    lon = browser_client("clinic_manager")
    lon.post(f"/transfers/{transfer.id}/lost", data=lost_form(lon, transfer, lost_reason=REASON, confirm_lost="y"))

    for client, heading in ((lon, "<h2>Outgoing</h2>"), (browser_client("nyc_manager"), "<h2>Incoming</h2>")):
        listing = client.get("/transfers").get_data(as_text=True)
        section = listing[listing.index(heading):]
        row = re.search(rf'<tr class="transfer-lost">.*?aria-label="Transfer {transfer.id}".*?</tr>', section, re.S)
        assert row is not None, section
        assert "Lost in transit" in row.group(0) and REASON in row.group(0)
        assert "missing in transit" not in row.group(0)  # its status says it all
    filtered = lon.get("/transfers?status=lost").get_data(as_text=True)
    assert 'href="/transfers?status=lost"' in filtered and f'aria-label="Transfer {transfer.id}"' in filtered
    assert f'aria-label="Transfer {on_road.id}"' not in filtered


def test_the_lists_say_when_a_box_was_declared_lost_on_the_declaring_clinics_clock(browser_client, world, session):
    by_london, _ = box_of_three(world, session)
    by_new_york, _ = box_of_three(world, session, lot="ROAD2")
    lon, nyc = browser_client("clinic_manager"), browser_client("nyc_manager")
    lon.post(f"/transfers/{by_london.id}/lost", data=lost_form(lon, by_london, lost_reason=REASON, confirm_lost="y"))
    nyc.post(f"/transfers/{by_new_york.id}/lost", data=lost_form(nyc, by_new_york, lost_reason=REASON,
                                                                 confirm_lost="y"))

    listing = lon.get("/transfers").get_data(as_text=True)
    for transfer, said in ((by_london, "15 Jun 2026 10:30 LON time"), (by_new_york, "15 Jun 2026 05:30 NYC time")):
        row = re.search(rf'<tr class="transfer-lost">.*?aria-label="Transfer {transfer.id}".*?</tr>', listing, re.S)
        assert row is not None, listing
        assert f'<span class="hint transfer-nowrap transfer-lost-at">{said}</span>' in row.group(0), row.group(0)


def test_the_lot_trace_says_the_lost_containers_went_missing_in_transit(browser_client, world, session):
    transfer, vials = box_of_three(world, session)
    lon = browser_client("clinic_manager")
    lon.post(f"/transfers/{transfer.id}/lost", data=lost_form(lon, transfer, lost_reason=REASON, confirm_lost="y"))

    trace = browser_client("safety").get(f"/trace/lots/{vials[0].lot_id}").get_data(as_text=True)
    for vial in vials:
        row = re.search(rf'<tr id="trace-container-{vial.id}".*?</tr>', trace, re.S)
        assert row is not None, trace
        assert f"missing in transit (transfer {transfer.id})" in row.group(0)
        assert f'href="/transfers/{transfer.id}"' in row.group(0)
