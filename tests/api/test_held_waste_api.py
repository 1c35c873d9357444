"""Wasting a container on hold after a temperature excursion is the safety lead's decision (DOMAIN.md "Cold
chain"): a nurse's waste is refused with ``container_on_hold``; the safety lead's (or an admin's) ends the hold with
their reason. Stock that leaves a held container by a rule (the beyond-use waste, a closing treatment's single-patient
remainder) leaves the hold open, the container emptied, for the safety lead to confirm."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cold_chain.models import ContainerHold, HoldOutcome
from inventory.models import Movement, MovementKind, utcnow
from tests.api.conftest import error_code
from tests.factories import draw, reconstitute, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

FAR = dt.date(2099, 12, 31)


def held_vial(api, world, session, *, mixed_hours_ago: int | None = None):
    """A Botox vial kept in the London fridge for two days, held by an excursion that ended an hour ago."""
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    if mixed_hours_ago is not None:
        reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=mixed_hours_ago))
    session.flush()
    now = utcnow()
    recorded = api("manager").post(f"/locations/{world.location().id}/excursions", {
        "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
        "min_c": "9", "max_c": "14"})
    assert recorded.status_code == 201, recorded.get_json()
    assert [c["label_code"] for c in recorded.get_json()["held"]] == [vial.label_code]
    return vial


def hold_of(session, vial) -> ContainerHold:
    session.expire_all()
    (hold,) = session.scalars(select(ContainerHold).where(ContainerHold.container_id == vial.id))
    return hold


def wastes_of(session, vial) -> int:
    return session.scalar(select(func.count(Movement.id)).where(Movement.container_id == vial.id,
                                                                Movement.kind == MovementKind.WASTE))


@pytest.mark.parametrize("who", ["nurse", "manager"])
def test_a_nurse_or_manager_may_not_waste_a_held_vial_and_the_hold_stays_open(api, world, session, who):
    vial = held_vial(api, world, session)

    response = api(who).post(f"/containers/{vial.label_code}/waste", {"quantity": "100", "reason": "dropped"})

    assert (response.status_code, error_code(response)) == (409, "container_on_hold")
    error = response.get_json()["error"]
    assert error["message"] == (f"This Botox Cosmetic 100 U ({vial.label_code}) is on hold after a temperature "
                                "excursion: only the safety lead may release or waste it.")
    assert error["details"]["container_id"] == vial.id
    assert "9 to 14 °C" in error["details"]["hold_reason"] and error["details"]["on_hold_since"]
    hold = hold_of(session, vial)
    assert (hold.resolved_at, hold.outcome, hold.resolved_by_id) == (None, None, None)
    assert vial.on_hold_since is not None and vial.remaining == Decimal(100)
    assert wastes_of(session, vial) == 0
    assert [h["container"]["id"] for h in api("safety").get("/holds").get_json()["holds"]] == [vial.id]


@pytest.mark.parametrize("who", ["safety", "admin"])
def test_the_safety_lead_or_admin_wastes_a_held_vial_at_the_cart_and_the_hold_ends_with_their_reason(
        api, world, session, who):
    vial = held_vial(api, world, session)

    response = api(who).post(f"/containers/{vial.label_code}/waste", {"quantity": "100", "reason": "dropped"})

    assert response.status_code == 201, response.get_json()
    hold = hold_of(session, vial)
    assert (hold.outcome, hold.resolved_by_id, hold.reason) == (HoldOutcome.WASTED, world.users[who].id,
                                                                "Wasted (dropped)")
    assert vial.on_hold_since is None and vial.state.value == "discarded"
    assert api("safety").get("/holds").get_json()["holds"] == []


def test_a_vial_not_on_hold_is_still_wasted_by_a_nurse(api, world, session):
    vial = world.container("botox", expiry=FAR)
    session.flush()
    response = api("nurse").post(f"/containers/{vial.label_code}/waste", {"reason": "dropped"})
    assert response.status_code == 201, response.get_json()


def test_the_beyond_use_waste_empties_a_held_vial_but_leaves_its_hold_for_the_safety_lead(api, world, session):
    vial = held_vial(api, world, session, mixed_hours_ago=40)  # mixed before the excursion, past beyond-use now
    nurse = api("nurse")

    named = nurse.post("/containers/beyond-use/waste", {"container_ids": [vial.id]})

    assert named.status_code == 201, named.get_json()
    assert [m["container_id"] for m in named.get_json()["movements"]] == [vial.id]
    hold = hold_of(session, vial)
    assert hold.resolved_at is None and vial.on_hold_since is not None and vial.remaining == 0
    (waiting,) = api("safety").get("/holds").get_json()["holds"]
    assert (waiting["container"]["id"], waiting["emptied"], waiting["container"]["state"]) == (
        vial.id, True, "discarded")
    # Nothing is left to release: the safety lead confirms it as wasted, with a reason, and no second movement.
    released = api("safety").post(f"/containers/{vial.label_code}/release-hold", {"reason": "fine"})
    assert (released.status_code, error_code(released)) == (409, "container_empty")
    assert nurse.post(f"/containers/{vial.label_code}/waste-held", {"reason": "x"}).status_code == 403

    confirmed = api("safety").post(f"/containers/{vial.label_code}/waste-held",
                                   {"reason": "Past beyond-use and held: confirmed wasted"})

    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["on_hold"] is False
    hold = hold_of(session, vial)
    assert (hold.outcome, hold.resolved_by_id, hold.reason) == (
        HoldOutcome.WASTED, world.users["safety"].id, "Past beyond-use and held: confirmed wasted")
    assert wastes_of(session, vial) == 1
    assert api("safety").get("/holds").get_json()["holds"] == []


def test_closing_a_treatment_wastes_a_held_single_patient_remainder_and_the_safety_lead_confirms_it(
        api, world, session):
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    reconstitute(world, vial, at=utcnow() - dt.timedelta(minutes=30))
    treatment = start_treatment(world, at=utcnow() - dt.timedelta(minutes=20))
    draw(world, treatment, vial, "20", at=utcnow() - dt.timedelta(minutes=10))
    session.flush()
    now = utcnow()
    # Found later: the fridge the vial went back to was warm for the last hours.
    api("manager").post(f"/locations/{world.location().id}/excursions", {
        "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": now.isoformat(), "min_c": "9",
        "max_c": "14"})
    session.expire_all()
    assert vial.on_hold_since is not None

    closed = api("nurse").post(f"/treatments/{treatment.id}/close")

    assert closed.status_code == 200, closed.get_json()
    assert [m["container_id"] for m in closed.get_json()["wasted"]] == [vial.id]
    hold = hold_of(session, vial)
    assert hold.resolved_at is None and vial.on_hold_since is not None and vial.remaining == 0
    (waiting,) = api("safety").get("/holds").get_json()["holds"]
    assert waiting["emptied"] is True

    confirmed = api("safety").post(f"/containers/{vial.label_code}/waste-held", {"reason": "Remainder: confirmed"})

    assert confirmed.status_code == 200, confirmed.get_json()
    assert hold_of(session, vial).outcome is HoldOutcome.WASTED
