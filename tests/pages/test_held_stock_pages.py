"""Held stock on the pages: the stock list says which containers are on hold after a temperature excursion, the
cart offers a held vial's waste only to the safety lead (a nurse is told why), and the cold-chain board asks the
safety lead to confirm a held vial emptied by a closing treatment."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold
from inventory.models import utcnow
from inventory.services.permissions import Scope
from tests.factories import draw, reconstitute, start_treatment
from tests.pages.conftest import csrf_token

FAR = dt.date(2099, 12, 31)
NURSE_WORDS = "is on hold after a temperature excursion: only the safety lead may release or waste it."


def hold_fridge(world, session, *, ended_hours_ago: float = 1) -> None:
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=ended_hours_ago),
        min_c=Decimal(9), max_c=Decimal(14), now=now)
    session.flush()


def stock_group(html: str, lot: str) -> str:
    """The stock list's body (row and labels) of one lot."""
    (group,) = [g for g in html.split('<tbody class="stock-group">')[1:] if f'<td class="mono">{lot}</td>' in g]
    return group.split("</tbody>")[0]


def test_the_stock_list_says_which_containers_are_on_hold(browser_client, world, session):
    before = utcnow() - dt.timedelta(days=2)
    receipt = world.receive("botox", lot="HELD-1", expiry=FAR, containers=3, now=before)
    hold_fridge(world, session)
    cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(),
                            container_id=receipt.containers[0].id, reason="Stable per manufacturer", now=utcnow())
    fresh = world.container("botox", lot="FRESH-1", expiry=FAR)  # received after the excursion: not held
    session.flush()

    html = browser_client("nurse").get("/stock").get_data(as_text=True)

    held = stock_group(html, "HELD-1")
    assert re.search(r'<span class="status status-quarantined on-hold"[^>]*>2 on hold</span>', held), held
    released, *still_held = receipt.containers
    for container in still_held:
        line = held.split(container.label_code, 1)[1].split("</li>", 1)[0]
        assert "on hold" in line, line
    assert "on hold" not in held.split(released.label_code, 1)[1].split("</li>", 1)[0]
    assert "on hold" not in stock_group(html, "FRESH-1") and fresh.label_code in html


def test_the_cart_offers_a_held_vials_waste_to_the_safety_lead_only(browser_client, world, session):
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    hold_fridge(world, session)
    treatment = start_treatment(world, "P-HELD")
    session.flush()
    page = f"/cart/treatments/{treatment.id}?container={vial.label_code}"

    nurse = browser_client("nurse")
    html = nurse.get(page).get_data(as_text=True)
    assert "Waste from this container" not in html
    assert f"This Botox Cosmetic 100 U ({vial.label_code}) {NURSE_WORDS}" in html

    # The server refuses it all the same, and the hold stays for the safety lead.
    refused = nurse.post(f"/cart/treatments/{treatment.id}/waste", data={
        "csrf_token": csrf_token(nurse, page), "container": vial.label_code, "reason": "dropped"},
        follow_redirects=True)
    assert NURSE_WORDS in refused.get_data(as_text=True)
    session.expire_all()
    assert vial.on_hold_since is not None and vial.remaining == Decimal(100)

    safety = browser_client("safety")
    assert "Waste from this container" in safety.get(page).get_data(as_text=True)
    done = safety.post(f"/cart/treatments/{treatment.id}/waste", data={
        "csrf_token": csrf_token(safety, page), "container": vial.label_code, "reason": "dropped"},
        follow_redirects=True)
    assert f"Wasted from {vial.label_code}: 0 U left." in done.get_data(as_text=True)
    session.expire_all()
    (hold,) = session.scalars(select(ContainerHold).where(ContainerHold.container_id == vial.id))
    assert (hold.outcome.value, hold.resolved_by_id, hold.reason) == ("wasted", world.users["safety"].id,
                                                                      "Wasted (dropped)")


def test_the_cold_chain_board_asks_the_safety_lead_to_confirm_a_held_remainder_a_closing_wasted(
        browser_client, world, session):
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    reconstitute(world, vial, at=utcnow() - dt.timedelta(minutes=30))
    treatment = start_treatment(world, "P-CLOSE", at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, vial, "20", at=utcnow() - dt.timedelta(minutes=10))
    hold_fridge(world, session, ended_hours_ago=0)
    nurse = browser_client("nurse")
    nurse.post(f"/cart/treatments/{treatment.id}/close",
               data={"csrf_token": csrf_token(nurse, f"/cart/treatments/{treatment.id}")})
    session.expire_all()
    assert vial.remaining == 0 and vial.on_hold_since is not None

    safety = browser_client("safety")
    html = safety.get("/cold-chain").get_data(as_text=True)
    row = html.split(f'<tr data-label="{vial.label_code}">', 1)[1].split("</tr>", 1)[0]
    assert "emptied while on hold" in row and "single patient remainder" in row
    (group,) = [g for g in html.split('<tbody class="hold-group')[1:] if f'data-label="{vial.label_code}"' in g]
    assert "hold-group-emptied" in group and "Confirm all 1 wasted" in group and "Release" not in group

    done = safety.post(f"/cold-chain/holds/{vial.label_code}/waste", data={
        "csrf_token": csrf_token(safety, "/cold-chain"), "reason": "Remainder of a closed treatment"},
        follow_redirects=True)
    assert f"{vial.label_code} is wasted." in done.get_data(as_text=True)
    assert f'data-label="{vial.label_code}"' not in done.get_data(as_text=True)
