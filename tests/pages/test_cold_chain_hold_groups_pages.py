"""The hold board groups held containers by the excursion that held them, each group headed by the excursion's words
and its count, with one reason and "Release all N" / "Waste all N" for the ticked containers; a clinic and a place
narrow it. One that cannot be refuses them all, and the message names it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from inventory.cold_chain import service as cold_chain
from inventory.models import utcnow
from inventory.services.permissions import Scope
from tests.pages.conftest import csrf_token

FAR = dt.date(2099, 12, 31)


def hold(world, session, count: int, *, clinic=None, lot: str = "HB-1"):
    fridge = world.location("Fridge", clinic)
    vials = world.receive("botox", lot=lot, expiry=FAR, containers=count, location=fridge,
                          now=utcnow() - dt.timedelta(days=2)).containers
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=fridge.id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=now)
    session.flush()
    return vials


def groups(html: str) -> list[str]:
    return [g.split("</tbody>")[0] for g in html.split('<tbody class="hold-group')[1:]]


def test_the_board_groups_holds_by_excursion_with_its_words_its_count_and_one_decision(browser_client, world, session):
    london = hold(world, session, 3)
    new_york = hold(world, session, 2, clinic=world.other_clinic, lot="HB-2")

    html = browser_client("safety").get("/cold-chain").get_data(as_text=True)

    assert "On hold <span class=\"hint\">(5)</span>" in html
    by_place = {re.search(r'hold-group-words">(\w+ · Fridge) was at 9 to 14 °C from ', g).group(1): g
                for g in groups(html)}
    assert set(by_place) == {"LON · Fridge", "NYC · Fridge"}
    lon = by_place["LON · Fridge"]
    assert "3 containers" in lon and "Release all 3" in lon and "Waste all 3" in lon
    assert lon.count('name="reason"') == 1
    for vial in london:
        assert re.search(rf'<input type="checkbox" name="container_id" value="{vial.id}" form="hold-group-\d+" checked',
                         lon)
    assert "Release all 2" in by_place["NYC · Fridge"] and new_york[0].label_code in by_place["NYC · Fridge"]
    manager = browser_client("manager").get("/cold-chain").get_data(as_text=True)
    assert "Release all" not in manager and 'name="container_id"' not in manager  # a manager records, never decides


def test_a_clinic_and_a_place_narrow_the_board(browser_client, world, session):
    london = hold(world, session, 2)
    new_york = hold(world, session, 1, clinic=world.other_clinic, lot="HB-2")
    safety = browser_client("safety")

    one_clinic = safety.get(f"/cold-chain?clinic_id={world.other_clinic.id}").get_data(as_text=True)
    assert new_york[0].label_code in one_clinic and london[0].label_code not in one_clinic
    assert "On hold <span class=\"hint\">(1)</span>" in one_clinic

    one_place = safety.get(f"/cold-chain?location_id={world.location().id}").get_data(as_text=True)
    assert london[0].label_code in one_place and new_york[0].label_code not in one_place
    assert "On hold <span class=\"hint\">(2 of 3)</span>" in one_place
    assert '<option value="">Every place</option>' in one_place


def test_release_all_releases_the_ticked_ones_and_leaves_the_unticked_on_hold(browser_client, world, session):
    vials = hold(world, session, 3)
    safety = browser_client("safety")
    token = csrf_token(safety, "/cold-chain")

    done = safety.post("/cold-chain/holds/release", data={
        "csrf_token": token, "container_id": [str(vials[0].id), str(vials[2].id)],
        "reason": "Manufacturer: stable 72 h up to 25 °C", "location_id": str(world.location().id)})

    assert done.status_code == 302 and done.location.endswith(f"/cold-chain?location_id={world.location().id}")
    html = safety.get(done.location).get_data(as_text=True)
    assert f"Released 2 containers ({vials[0].label_code}, {vials[2].label_code}): they may be used again." in html
    session.expire_all()
    assert [v.on_hold_since is None for v in vials] == [True, False, True]
    assert "Release all 1" in html


def test_waste_all_with_one_that_cannot_be_wastes_none_and_names_it(browser_client, world, session):
    vials = hold(world, session, 2)
    cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(), container_id=vials[0].id,
                            reason="Stable", now=utcnow())
    session.flush()
    safety = browser_client("safety")

    done = safety.post("/cold-chain/holds/waste", data={
        "csrf_token": csrf_token(safety, "/cold-chain"), "container_id": [str(v.id) for v in vials],
        "reason": "Frozen"}, follow_redirects=True)

    html = done.get_data(as_text=True)
    assert (f"Nothing was wasted: 1 of 2 containers cannot be wasted. Botox Cosmetic 100 U ({vials[0].label_code}) "
            "is not on hold.") in html
    assert 'data-code="holds_not_ended"' in html
    session.expire_all()
    assert vials[1].on_hold_since is not None and vials[1].remaining == Decimal(100)


def test_none_ticked_is_refused_and_nothing_changes(browser_client, world, session):
    vials = hold(world, session, 1)
    safety = browser_client("safety")
    done = safety.post("/cold-chain/holds/release", data={
        "csrf_token": csrf_token(safety, "/cold-chain"), "reason": "Stable"}, follow_redirects=True)
    assert "Tick at least one container." in done.get_data(as_text=True)
    session.expire_all()
    assert vials[0].on_hold_since is not None


def test_the_waste_question_names_how_many_it_wastes(browser_client, world, session):
    """As the page comes (all ticked), the question asked before a group's waste names the number; the buttons say
    which they are, for the page's script to keep their words to what is ticked."""
    hold(world, session, 3)
    hold(world, session, 1, clinic=world.other_clinic, lot="HB-2")

    html = browser_client("safety").get("/cold-chain").get_data(as_text=True)

    by_count = {len(re.findall(r'name="container_id"', g)): g for g in groups(html)}
    assert ('data-hold-button="waste" data-confirm="Waste all 3 containers for good? They leave stock and cannot be '
            'used again.">Waste all 3</button>') in by_count[3]
    assert 'data-confirm="Waste 1 container for good?' in by_count[1]
    assert "Waste the ticked containers" not in html
    assert 'data-hold-button="release">Release all 3</button>' in by_count[3]
    assert 'aria-label="Reason for the 3 ticked containers"' in by_count[3]
    assert '<span class="hint hold-none-ticked" role="status"></span>' in by_count[3]


def test_without_script_the_server_wastes_only_the_ticked_and_refuses_none_ticked(browser_client, world, session):
    """The page without its script says "Waste all 3": what the server does is what was ticked, and with nothing
    ticked it refuses in words and wastes nothing."""
    vials = hold(world, session, 3)
    safety = browser_client("safety")

    none = safety.post("/cold-chain/holds/waste", data={
        "csrf_token": csrf_token(safety, "/cold-chain"), "reason": "Frozen"}, follow_redirects=True)
    html = none.get_data(as_text=True)
    assert 'class="flash flash-error" role="alert" data-code="validation_error">Tick at least one container.' in html
    assert "Wasted" not in html
    session.expire_all()
    assert all(v.on_hold_since is not None and v.remaining == Decimal(100) for v in vials)

    two = safety.post("/cold-chain/holds/waste", data={
        "csrf_token": csrf_token(safety, "/cold-chain"), "container_id": [str(vials[0].id), str(vials[1].id)],
        "reason": "Frozen"}, follow_redirects=True)
    assert f"Wasted 2 containers ({vials[0].label_code}, {vials[1].label_code})." in two.get_data(as_text=True)
    session.expire_all()
    assert [v.remaining for v in vials] == [Decimal(0), Decimal(0), Decimal(100)]
    assert vials[2].on_hold_since is not None
