"""A container's page moves it to another place of its clinic ("Move to another place"), and the stock page of one
place moves everything in it ("Move everything from Fridge"): what staff do when a fridge fails. The page says in
words what moved, and that held stock keeps its hold."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cold_chain import service as cold_chain
from inventory.models import Location, LocationKind, Movement, MovementKind, utcnow
from inventory.services.permissions import Scope
from tests.factories import kit_location, waste
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def spare_fridge(world, name: str = "Spare fridge", active: bool = True) -> Location:
    spare = Location(clinic_id=world.clinic.id, name=name, kind=LocationKind.FRIDGE, is_active=active)
    world.session.add(spare)
    world.session.flush()
    return spare


def held(world, session, vial) -> None:
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=now)
    assert vial.on_hold_since is not None


def options(html: str, select_id: str) -> list[str]:
    start = html.index(f'id="{select_id}"')
    block = html[start:html.index("</select>", start)]
    return [html_lib.unescape(o) for o in re.findall(r'<option value="\d+">([^<]+)</option>', block)]


def flashes(html: str) -> list[str]:
    return [html_lib.unescape(m) for m in re.findall(r'<div class="flash flash-\w+"[^>]*>([^<]+)</div>', html)]


def transfers(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Movement.id)).where(
        Movement.kind.in_([MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN])))


def test_a_nurse_moves_a_vial_from_its_page_and_the_page_says_where_it_went(browser_client, world, session):
    vial = world.container("botox")
    spare = spare_fridge(world)
    spare_fridge(world, "Old fridge", active=False)
    session.flush()
    nurse = browser_client("nurse")
    page = f"/containers/{vial.label_code}"

    html = nurse.get(page).get_data(as_text=True)
    assert "Move to another place" in html
    # The clinic's other places in use: not where it is, not one retired, not another clinic's.
    assert options(html, "move-to") == ["Cart (cart)", "Room 1 (room)", "Spare fridge (fridge)"]

    response = nurse.post(f"{page}/move", data={"csrf_token": csrf_token(nurse, page), "to_location_id": spare.id,
                                                "reason": "fridge failed"}, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.request.path == page
    assert f"Moved Botox Cosmetic 100 U ({vial.label_code}) from Fridge to Spare fridge." in flashes(html)
    assert "LON · Spare fridge" in html
    assert transfers(session) == 2


def test_a_refused_move_says_why_and_moves_nothing(browser_client, world, session):
    vial = world.container("botox")
    kit = kit_location(world)
    held(world, session, vial)
    session.flush()
    safety = browser_client("safety")
    page = f"/containers/{vial.label_code}"

    html = safety.get(page).get_data(as_text=True)
    assert "It keeps its hold where it goes" in html
    response = safety.post(f"{page}/move", data={"csrf_token": csrf_token(safety, page), "to_location_id": kit.id,
                                                 "reason": "restock kit"}, follow_redirects=True)

    [said] = flashes(response.get_data(as_text=True))
    assert "is on hold" in said and vial.label_code in said
    assert transfers(session) == 0


def test_a_held_vial_moved_to_the_spare_fridge_keeps_its_hold_and_the_page_says_so(browser_client, world, session):
    vial = world.container("botox", now=utcnow() - dt.timedelta(days=2))
    held(world, session, vial)
    spare = spare_fridge(world)
    session.flush()
    safety = browser_client("safety")
    page = f"/containers/{vial.label_code}"

    response = safety.post(f"{page}/move", data={"csrf_token": csrf_token(safety, page), "to_location_id": spare.id,
                                                 "reason": "fridge failed"}, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert flashes(html) == [f"Moved Botox Cosmetic 100 U ({vial.label_code}) from Fridge to Spare fridge. "
                             "It keeps its hold until a safety lead releases or wastes it."]
    assert "Still on hold." in html


def test_a_used_up_container_offers_no_move(browser_client, world, session):
    vial = world.container("botox")
    waste(world, vial, "dropped")
    session.flush()
    html = browser_client("nurse").get(f"/containers/{vial.label_code}").get_data(as_text=True)
    assert "Move to another place" not in html


def test_the_stock_page_of_a_failed_fridge_moves_everything_in_it_at_once(browser_client, world, session):
    vials = world.receive("botox", containers=3).containers
    spare = spare_fridge(world)
    session.flush()
    nurse = browser_client("nurse")
    fridge = world.location()
    page = f"/stock?location_id={fridge.id}"

    html = nurse.get(page).get_data(as_text=True)
    assert "Move everything from Fridge to another place" in html
    assert 'data-confirm="Move all 3 containers in Fridge to the place chosen?' in html
    assert "Spare fridge (fridge)" in options(html, "move-all-to")
    assert "Move everything from" not in nurse.get("/stock").get_data(as_text=True)  # one place at a time

    response = nurse.post(f"/locations/{fridge.id}/move-all",
                          data={"csrf_token": csrf_token(nurse, page), "to_location_id": spare.id,
                                "reason": "fridge failed"}, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert response.request.path == "/stock" and response.request.args["location_id"] == str(spare.id)
    labels = ", ".join(v.label_code for v in vials)
    assert flashes(html) == [f"Moved 3 containers ({labels}) from Fridge to Spare fridge."]
    assert transfers(session) == 6
    assert "Move everything from Spare fridge" in html  # and back again, when the fridge is fixed


def test_the_bulk_move_refused_for_one_container_moves_none(browser_client, world, session):
    vials = world.receive("botox", containers=2, now=utcnow() - dt.timedelta(days=2)).containers
    held(world, session, vials[0])
    kit = kit_location(world)
    session.flush()
    manager = browser_client("manager")
    fridge = world.location()
    page = f"/stock?location_id={fridge.id}"

    response = manager.post(f"/locations/{fridge.id}/move-all",
                            data={"csrf_token": csrf_token(manager, page), "to_location_id": kit.id,
                                  "reason": "restock kit"}, follow_redirects=True)

    [said] = flashes(response.get_data(as_text=True))
    assert vials[0].label_code in said and said.endswith("Nothing was moved.")
    assert transfers(session) == 0


def test_a_place_holding_one_held_vial_says_it_in_the_singular(browser_client, world, session):
    vial = world.container("botox", now=utcnow() - dt.timedelta(days=2))
    held(world, session, vial)
    spare_fridge(world)
    session.flush()
    html = browser_client("safety").get(f"/stock?location_id={world.location().id}").get_data(as_text=True)
    assert ("Fridge holds 1 sealed or opened container, on hold: it moves with its hold, which stays until a safety "
            "lead releases or wastes it.</p>") in html
