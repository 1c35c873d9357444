"""Recalled and quarantined stock is the safety lead's (DOMAIN.md "Lots, expiry and recalls", "Counterfeits"): a
nurse may not waste it at the cart (``lot_recalled`` / ``lot_quarantined``: set it aside), a closing treatment
and the beyond-use waste leave it for the safety lead, and a recall case never records as returned to the
supplier a container the ledger shows wasted (``recall_item_wasted``: mark it destroyed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import Movement, MovementKind, utcnow
from tests.api.conftest import error_code
from tests.factories import draw, reconstitute, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

FAR = dt.date(2099, 12, 31)


def wastes_of(session, container) -> int:
    return session.scalar(select(func.count(Movement.id)).where(Movement.container_id == container.id,
                                                                Movement.kind == MovementKind.WASTE))


def syringe(world, session, lot: str = "VM88B21"):
    container = world.container("filler", lot=lot, expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    return container


def open_recall(api, lot_id: int) -> dict:
    created = api("safety").post("/recalls", {"lot_ids": [lot_id], "reason": "Manufacturer notice: sterility",
                                              "recall_class": "I", "source": "manufacturer"})
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def case_line(api, case_id: int, container) -> dict:
    body = api("safety").get(f"/recalls/{case_id}").get_json()
    (line,) = [c for c in body["containers"] if c["container_id"] == container.id]
    return line


@pytest.mark.parametrize("who", ["nurse", "manager"])
def test_a_nurse_may_not_waste_a_recalled_syringe_and_the_case_returns_it(api, world, session, who):
    container = syringe(world, session)
    case = open_recall(api, container.lot_id)

    response = api(who).post(f"/containers/{container.label_code}/waste", {"reason": "other", "note": "x"})

    assert (response.status_code, error_code(response)) == (409, "lot_recalled")
    error = response.get_json()["error"]
    assert error["message"] == (
        f"Lot VM88B21 of Juvederm Volbella XC 0.55 mL is recalled: do not waste this syringe "
        f"({container.label_code}). Set it aside for the safety lead, who returns it to the supplier or destroys "
        "it on the recall case.")
    assert (error["details"]["lot_id"], error["details"]["container_id"]) == (container.lot_id, container.id)
    session.expire_all()
    assert wastes_of(session, container) == 0 and container.remaining == Decimal("0.55")
    line = case_line(api, case["id"], container)
    assert (line["state"], line["remaining"], line["status"]) == ("sealed", "0.55", "open")

    returned = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})

    assert returned.status_code == 200, returned.get_json()
    assert (returned.get_json()["status"], returned.get_json()["remaining"]) == ("returned", "0")
    session.expire_all()
    kinds = list(session.scalars(select(Movement.kind).where(Movement.container_id == container.id,
                                                             Movement.quantity < 0)))
    assert kinds == [MovementKind.RETURN]


def test_a_nurse_may_not_waste_the_evidence_vial_of_a_watch_listed_lot(api, world, session):
    vial = world.container("botox", lot="FAKE77", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    watched = api("safety").post("/watchlist", {"product_id": world.botox.id, "lot_number": "FAKE77",
                                                "source": "Regulator alert", "note": "sold online"})
    assert watched.status_code == 201, watched.get_json()
    assert [lot["id"] for lot in watched.get_json()["quarantined_lots"]] == [vial.lot_id]

    response = api("nurse").post(f"/containers/{vial.label_code}/waste", {"reason": "no_vacuum"})

    assert (response.status_code, error_code(response)) == (409, "lot_quarantined")
    error = response.get_json()["error"]
    assert error["message"] == (
        f"Lot FAKE77 of Botox Cosmetic 100 U is quarantined: do not waste this vial ({vial.label_code}). Set it "
        "aside for the safety lead: it is kept as evidence until the lot is released.")
    assert error["details"]["lot_id"] == vial.lot_id and error["details"]["reason"]
    session.expire_all()
    assert wastes_of(session, vial) == 0 and vial.remaining == Decimal(100)


@pytest.mark.parametrize("who", ["safety", "admin"])
def test_the_safety_lead_or_admin_may_waste_recalled_stock(api, world, session, who):
    container = syringe(world, session)
    open_recall(api, container.lot_id)

    response = api(who).post(f"/containers/{container.label_code}/waste", {"reason": "other", "note": "crushed"})

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["container"]["state"] == "discarded"


def test_an_expired_lot_is_still_wasted_by_a_nurse(api, world, session):
    vial = world.container("botox", lot="OLD1", expiry=dt.date(2020, 1, 31), now=dt.datetime(2019, 6, 1, tzinfo=dt.UTC))
    session.flush()

    response = api("nurse").post(f"/containers/{vial.label_code}/waste", {"reason": "expired"})

    assert response.status_code == 201, response.get_json()


def test_a_recall_line_is_not_marked_returned_when_the_ledger_shows_it_wasted(api, world, session):
    container = syringe(world, session)
    other = world.container("filler", lot="VM88B21", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    case = open_recall(api, container.lot_id)
    wasted = api("safety").post(f"/containers/{container.label_code}/waste", {"reason": "other", "note": "crushed"})
    assert wasted.status_code == 201, wasted.get_json()

    response = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})

    assert (response.status_code, error_code(response)) == (409, "recall_item_wasted")
    error = response.get_json()["error"]
    assert error["message"].startswith(f"Juvederm Volbella XC 0.55 mL ({container.label_code}) was wasted by ")
    assert error["message"].endswith("so it cannot have been returned to the supplier. Mark it destroyed.")
    assert (error["details"]["container_id"], error["details"]["movement_id"], error["details"]["reason"]) == (
        container.id, wasted.get_json()["id"], "other")
    assert case_line(api, case["id"], container)["status"] == "open"
    # Many at once: all or none.
    bulk = api("safety").post(f"/recalls/{case['id']}/containers",
                              {"container_ids": [container.id, other.id], "status": "returned"})
    assert (bulk.status_code, error_code(bulk)) == (409, "recall_item_wasted")
    assert case_line(api, case["id"], other)["status"] == "open"

    destroyed = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "destroyed"})

    assert destroyed.status_code == 200, destroyed.get_json()
    assert destroyed.get_json()["status"] == "destroyed"
    assert wastes_of(session, container) == 1  # nothing left to destroy: no second movement


def test_closing_a_treatment_sets_a_recalled_remainder_aside_for_the_safety_lead(api, world, session):
    container = syringe(world, session)
    treatment = start_treatment(world, at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, container, "0.2", "mL", area="lip", at=utcnow() - dt.timedelta(minutes=10))
    session.flush()
    case = open_recall(api, container.lot_id)

    closed = api("nurse").post(f"/treatments/{treatment.id}/close")

    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["wasted"] == [] and body["treatment"]["closed_at"] is not None
    assert [(c["label_code"], c["remaining"]) for c in body["set_aside"]] == [(container.label_code, "0.35")]
    session.expire_all()
    assert wastes_of(session, container) == 0
    assert case_line(api, case["id"], container)["remaining"] == "0.35"
    returned = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})
    assert returned.status_code == 200, returned.get_json()


def test_the_safety_lead_closing_a_treatment_wastes_a_recalled_remainder_which_is_then_destroyed_not_returned(
        api, world, session):
    container = syringe(world, session)
    treatment = start_treatment(world, user="safety", at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, container, "0.2", "mL", area="lip", user="safety", at=utcnow() - dt.timedelta(minutes=10))
    session.flush()
    case = open_recall(api, container.lot_id)

    closed = api("safety").post(f"/treatments/{treatment.id}/close")

    assert closed.status_code == 200, closed.get_json()
    assert [m["container_id"] for m in closed.get_json()["wasted"]] == [container.id]
    assert closed.get_json()["set_aside"] == []
    returned = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})
    assert (returned.status_code, error_code(returned)) == (409, "recall_item_wasted")
    assert returned.get_json()["error"]["details"]["reason"] == "single_patient_remainder"
    destroyed = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "destroyed"})
    assert destroyed.status_code == 200, destroyed.get_json()


def test_closing_a_treatment_still_wastes_an_active_lots_remainder(api, world, session):
    container = syringe(world, session, lot="ACT1")
    treatment = start_treatment(world, at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, container, "0.2", "mL", area="lip", at=utcnow() - dt.timedelta(minutes=10))
    session.flush()

    closed = api("nurse").post(f"/treatments/{treatment.id}/close")

    assert closed.status_code == 200, closed.get_json()
    assert [m["container_id"] for m in closed.get_json()["wasted"]] == [container.id]
    assert closed.get_json()["set_aside"] == []


def test_the_beyond_use_waste_leaves_a_quarantined_vial_to_the_safety_lead(api, world, session):
    kept = world.container("botox", lot="QUAR1", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    ordinary = world.container("botox", lot="FINE1", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    for vial in (kept, ordinary):
        reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=40))
    session.flush()
    quarantined = api("safety").post(f"/lots/{kept.lot_id}/quarantine", {"reason": "counterfeit suspected"})
    assert quarantined.status_code == 200, quarantined.get_json()
    nurse = api("nurse")

    named = nurse.post("/containers/beyond-use/waste", {"container_ids": [kept.id, ordinary.id]})
    assert (named.status_code, error_code(named)) == (409, "lot_quarantined")
    session.expire_all()
    assert wastes_of(session, ordinary) == 0  # all or nothing

    every = nurse.post("/containers/beyond-use/waste", {})

    assert every.status_code == 201, every.get_json()
    assert [m["container_id"] for m in every.get_json()["movements"]] == [ordinary.id]
    session.expire_all()
    assert wastes_of(session, kept) == 0 and kept.remaining == Decimal(100)
    by_lead = api("safety").post("/containers/beyond-use/waste", {"container_ids": [kept.id]})
    assert by_lead.status_code == 201, by_lead.get_json()
