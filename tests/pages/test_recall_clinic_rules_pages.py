"""The trace, recalls and case pages follow the clinic rules of the recall API: no release offered to a clinic
safety lead whose release would reach another clinic's stock (the reason instead), quarantine and recall of a
lot only on its way to the clinic, the list counting what the case shows, a container on the road refused at
both ends, and refused stock going back not counted as coming."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Lot, LotStatus, Role
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from recall import services
from recall.models import RecallCase
from tests import factories
from tests.factories import NOW, make_user
from tests.pages.conftest import csrf_token

LATER = NOW + dt.timedelta(hours=2)
RECALL_FORM = {"reason": "counterfeit alert", "recall_class": "I", "source": "regulator"}


@pytest.fixture
def road(world, session):
    """Lot ROAD1 in London: one vial on the shelf, one on its way to New York (which holds nothing of it)."""
    shelf, vial = world.receive("botox", lot="ROAD1", containers=2).containers
    transfer = factories.send_transfer(world, [vial])
    world.users["nyc_safety"] = make_user(session, "nyc-safety", Role.SAFETY_LEAD, [world.other_clinic])
    world.lon_safety_lead()
    session.flush()
    return {"shelf": shelf, "vial": vial, "transfer": transfer, "lot_id": vial.lot_id}


def status_of(session, lot_id: int) -> LotStatus:
    session.expire_all()
    return session.get(Lot, lot_id).status


def flash_with_code(html: str, code: str) -> str:
    start = html.index(f'data-code="{code}"')
    return html[start:html.index("</div>", start)]


def release_form(lot_id: int) -> str:
    return f'action="/trace/lots/{lot_id}/release"'


def test_the_trace_page_tells_a_clinic_lead_why_not_instead_of_offering_the_release(browser_client, world,
                                                                                     session):
    world.users["nyc_safety"] = make_user(session, "nyc-safety", Role.SAFETY_LEAD, [world.other_clinic])
    ours = world.container("botox", lot="BOTH1", location=world.location("Fridge", world.other_clinic))
    world.container("botox", lot="BOTH1")  # London's
    services.quarantine(session, actor=world.users["safety"], lot_id=ours.lot_id, reason="London investigates",
                        now=NOW)
    session.flush()

    nyc = browser_client("nyc_safety")
    html = nyc.get(f"/trace/lots/{ours.lot_id}").get_data(as_text=True)

    assert release_form(ours.lot_id) not in html and "Release this lot" not in html
    assert ("Lot BOTH1 of Botox Cosmetic 100 U is also held at LON: only a chain-level safety lead can release it, "
            "since the release applies at every clinic.") in html
    # Posting the form anyway is refused with the same words, and changes nothing.
    token = csrf_token(nyc, f"/trace/lots/{ours.lot_id}")
    done = nyc.post(f"/trace/lots/{ours.lot_id}/release", data={"csrf_token": token, "reason": "fine here"},
                    follow_redirects=True).get_data(as_text=True)
    assert "also held at LON" in flash_with_code(done, "lot_held_elsewhere")
    assert status_of(session, ours.lot_id) is LotStatus.QUARANTINED

    # A chain-level safety lead is offered the release, which says it applies at every clinic.
    chain = browser_client("safety").get(f"/trace/lots/{ours.lot_id}").get_data(as_text=True)
    assert release_form(ours.lot_id) in chain and "Release at every clinic" in chain
    assert "The release applies at every clinic" in chain and "lot_held_elsewhere" not in chain


def test_a_clinic_lead_is_offered_the_release_of_a_lot_only_its_clinics_hold(browser_client, world, session):
    world.users["nyc_safety"] = make_user(session, "nyc-safety", Role.SAFETY_LEAD, [world.other_clinic])
    ours = world.container("botox", lot="MINE1", location=world.location("Fridge", world.other_clinic))
    services.quarantine(session, actor=world.users["safety"], lot_id=ours.lot_id, reason="alarm", now=NOW)
    session.flush()

    nyc = browser_client("nyc_safety")
    html = nyc.get(f"/trace/lots/{ours.lot_id}").get_data(as_text=True)
    assert release_form(ours.lot_id) in html and "Release at every clinic" in html
    token = csrf_token(nyc, f"/trace/lots/{ours.lot_id}")
    done = nyc.post(f"/trace/lots/{ours.lot_id}/release", data={"csrf_token": token, "reason": "log in range"},
                    follow_redirects=True).get_data(as_text=True)
    assert "is released at every clinic" in done
    assert status_of(session, ours.lot_id) is LotStatus.ACTIVE


def test_the_receiving_clinic_quarantines_a_lot_on_its_way_to_it_from_the_trace_page(browser_client, session,
                                                                                     road):
    nyc = browser_client("nyc_safety")
    token = csrf_token(nyc, f"/trace/lots/{road['lot_id']}")

    done = nyc.post(f"/trace/lots/{road['lot_id']}/quarantine", data={"csrf_token": token, "reason": "box odd"},
                    follow_redirects=True)

    html = done.get_data(as_text=True)
    assert done.status_code == 200
    assert "Lot ROAD1 of Botox Cosmetic 100 U is quarantined at every location." in html
    assert "No lot with id" not in html
    assert status_of(session, road["lot_id"]) is LotStatus.QUARANTINED
    # London still holds its shelf vial: New York is told why it may not release, and is offered no form.
    assert release_form(road["lot_id"]) not in html and "also held at LON" in html


def test_the_receiving_clinic_opens_a_recall_on_a_lot_on_its_way_to_it_from_the_trace_page(browser_client, session,
                                                                                           road):
    nyc = browser_client("nyc_safety")
    token = csrf_token(nyc, f"/trace/lots/{road['lot_id']}")

    opened = nyc.post("/recalls", data={"csrf_token": token, "lot_ids": str(road["lot_id"]), **RECALL_FORM})

    assert opened.status_code == 302
    session.expire_all()
    case = session.query(RecallCase).one()
    assert opened.headers["Location"].endswith(f"/recalls/{case.id}")
    assert status_of(session, road["lot_id"]) is LotStatus.RECALLED


def test_the_recalls_page_counts_the_incoming_container_the_case_page_lists(browser_client, world, session, road):
    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[road["lot_id"]],
                                reason="counterfeit alert", recall_class="I", source="regulator", now=NOW)
    session.flush()
    nyc = browser_client("nyc_safety")

    listed = nyc.get("/recalls").get_data(as_text=True)
    shown = nyc.get(f"/recalls/{case.id}").get_data(as_text=True)

    assert "Containers to take back (1)" in shown
    card = listed[listed.index(f"Case {case.id}:"):]
    assert "Containers returned or destroyed</span> <strong>0/1</strong>" in card[:card.index("</li>")]


def test_marking_an_incoming_container_on_the_case_page_says_it_is_on_the_road(browser_client, world, session,
                                                                                road):
    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[road["lot_id"]],
                                reason="counterfeit alert", recall_class="I", source="regulator", now=NOW)
    session.flush()
    nyc = browser_client("nyc_safety")
    token = csrf_token(nyc, f"/recalls/{case.id}")

    response = nyc.post(f"/recalls/{case.id}/containers", data={
        "csrf_token": token, "container_ids": str(road["vial"].id), "status": "destroyed"}, follow_redirects=True)

    assert response.status_code == 200
    message = flash_with_code(response.get_data(as_text=True), "container_in_transit")
    assert f"from LON to NYC (transfer #{road['transfer'].id})" in message


def test_a_refused_container_going_back_is_not_counted_as_coming(browser_client, world, session, road):
    nyc_manager = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                            transfer_id=road["transfer"].id, now=LATER, reason="box crushed")
    coming = world.container("botox", lot="ROAD1")
    factories.send_transfer(world, [coming])
    session.flush()

    html = browser_client("nyc_safety").get(f"/trace/lots/{road['lot_id']}").get_data(as_text=True)

    summary = html[html.index('class="trace-summary"'):]
    summary = summary[:summary.index("</p>")]
    assert '<strong class="trace-incoming-count">1</strong> on its way to your clinic' in summary
    assert '<strong class="trace-going-back-count">1</strong> refused, going back to LON' in summary
