"""Recalled and quarantined stock on the pages: the cart does not offer a nurse the waste form of such a container
(it says to set it aside for the safety lead), closing a treatment tells the nurse to keep a recalled remainder,
and a recall case offers only "Destroyed" for a container the ledger shows wasted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import unescape

from sqlalchemy import func, select

from inventory.models import Movement, MovementKind, utcnow
from recall import services as recalls
from tests.factories import draw, reconstitute, start_treatment, waste
from tests.pages.conftest import csrf_token

FAR = dt.date(2099, 12, 31)
SET_ASIDE = "Set it aside for the safety lead, who returns it to the supplier or destroys it on the recall case."


def recalled_syringe(world, session):
    container = world.container("filler", lot="VM88B21", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    return container


def recall(world, session, lot_id: int):
    case = recalls.open_recall(session, actor=world.users["safety"], lot_ids=[lot_id], reason="Manufacturer notice",
                               recall_class="I", source="manufacturer", now=utcnow())
    session.flush()
    return case


def wastes_of(session, container) -> int:
    return session.scalar(select(func.count(Movement.id)).where(Movement.container_id == container.id,
                                                                Movement.kind == MovementKind.WASTE))


def test_the_cart_offers_a_recalled_syringes_waste_to_the_safety_lead_only(browser_client, world, session):
    container = recalled_syringe(world, session)
    treatment = start_treatment(world, "P-RECALL", at=utcnow() - dt.timedelta(minutes=5))
    recall(world, session, container.lot_id)
    page = f"/cart/treatments/{treatment.id}?container={container.label_code}"

    nurse = browser_client("nurse")
    html = unescape(nurse.get(page).get_data(as_text=True))
    assert "Waste from this container" not in html
    assert 'class="hint waste-refused" data-code="lot_recalled"' in html
    assert f"do not waste this syringe ({container.label_code}). {SET_ASIDE}" in html

    # The server refuses it all the same.
    refused = nurse.post(f"/cart/treatments/{treatment.id}/waste", data={
        "csrf_token": csrf_token(nurse, page), "container": container.label_code, "reason": "other", "note": "x"},
        follow_redirects=True)
    assert SET_ASIDE in unescape(refused.get_data(as_text=True))
    session.expire_all()
    assert wastes_of(session, container) == 0 and container.remaining == Decimal("0.55")

    assert "Waste from this container" in browser_client("safety").get(page).get_data(as_text=True)


def test_closing_a_treatment_tells_the_nurse_to_keep_a_recalled_remainder(browser_client, world, session):
    container = recalled_syringe(world, session)
    treatment = start_treatment(world, "P-CLOSE", at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, container, "0.2", "mL", area="lip", at=utcnow() - dt.timedelta(minutes=10))
    recall(world, session, container.lot_id)
    nurse = browser_client("nurse")

    done = nurse.post(f"/cart/treatments/{treatment.id}/close",
                      data={"csrf_token": csrf_token(nurse, f"/cart/treatments/{treatment.id}")},
                      follow_redirects=True)

    html = unescape(done.get_data(as_text=True))
    assert (f"Treatment closed. Do not throw away Juvederm Volbella XC 0.55 mL {container.label_code}: lot VM88B21 "
            "is recalled, set it aside for the safety lead with what is left in it.") in html
    assert "Wasted what was left" not in html
    session.expire_all()
    assert wastes_of(session, container) == 0 and container.remaining == Decimal("0.35")


def test_a_recall_case_offers_only_destroyed_for_a_wasted_container(browser_client, world, session):
    wasted = recalled_syringe(world, session)
    kept = world.container("filler", lot="VM88B21", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    case = recall(world, session, wasted.lot_id)
    waste(world, wasted, "other", note="crushed", user="safety", at=utcnow())
    session.flush()
    safety = browser_client("safety")

    html = safety.get(f"/recalls/{case.id}").get_data(as_text=True)

    def line(container) -> str:
        return html.split(f'<tr id="container-{container.id}"', 1)[1].split("</tr>", 1)[0]

    assert "Returned to supplier" not in line(wasted) and "Destroyed" in line(wasted)
    assert "mark it destroyed" in line(wasted)
    assert "Returned to supplier" in line(kept)

    refused = safety.post(f"/recalls/{case.id}/containers/{wasted.id}", data={
        "csrf_token": csrf_token(safety, f"/recalls/{case.id}"), "status": "returned"}, follow_redirects=True)
    assert "cannot have been returned to the supplier. Mark it destroyed." in unescape(
        refused.get_data(as_text=True))
    assert recalls.open_counts(session, case.id)["containers_open"] == 2
    marked = safety.post(f"/recalls/{case.id}/containers/{wasted.id}", data={
        "csrf_token": csrf_token(safety, f"/recalls/{case.id}"), "status": "destroyed"}, follow_redirects=True)
    assert f"{wasted.label_code} marked destroyed" in marked.get_data(as_text=True)


def test_the_beyond_use_waste_of_every_vial_leaves_a_quarantined_one_to_the_safety_lead(browser_client, world,
                                                                                        session):
    vial = world.container("botox", lot="QUAR2", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=40))
    recalls.quarantine(session, actor=world.users["safety"], lot_id=vial.lot_id, reason="counterfeit suspected",
                       now=utcnow())
    session.flush()
    nurse = browser_client("nurse")

    html = nurse.get("/cart/beyond-use").get_data(as_text=True)
    assert "lot quarantined: only the safety lead wastes it; set it aside" in html

    done = nurse.post("/cart/beyond-use", data={"csrf_token": csrf_token(nurse, "/cart/beyond-use")},
                      follow_redirects=True)
    assert ("Nothing was wasted. Still listed: 1 container of a recalled or quarantined lot. Only the safety lead "
            "wastes such stock: set it aside.") in done.get_data(as_text=True)
    session.expire_all()
    assert wastes_of(session, vial) == 0 and vial.remaining == Decimal(100)
