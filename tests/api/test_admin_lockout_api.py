"""Acceptance defects of the administration API: the last chain-level admin stays one (no lock-out of chain-level
administration), an admin never deactivates their own account, and a fridge holding 2-8 °C stock is never
quietly unmarked as temperature-sensitive (which would switch its cold-chain holds off)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Location, Role, User, utcnow
from tests.api.conftest import error_code
from tests.factories import make_user, waste

FAR = dt.date(2099, 12, 31)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _clinic_admin(session, world) -> User:
    """An admin of the London clinic only: an admin, but not one who opens clinics or manages chain-level users."""
    user = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    session.flush()
    return user


# --- the last chain-level admin ---------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"clinic_ids": [1]},  # the acceptance report's demotion to one clinic (the id is set below)
    {"chain_level": False, "clinic_ids": [1]},
    {"role": "manager"},
    {"active": False},
])
def test_the_last_chain_level_admin_stays_one_while_clinic_level_admins_remain(api, world, session, change):
    _clinic_admin(session, world)
    admin = world.users["admin"]
    if "clinic_ids" in change:
        change = change | {"clinic_ids": [world.clinic.id]}
    refused = api("admin").patch(f"/users/{admin.id}", change)
    assert (refused.status_code, error_code(refused)) == (409, "last_admin"), refused.get_json()
    message = refused.get_json()["error"]["message"]
    assert "last active admin at chain level" in message and "a chain-level admin must remain" in message
    assert "Make another user a chain-level admin first." in message
    session.expire_all()
    kept = session.get(User, admin.id)
    assert (kept.role, kept.is_active, kept.is_chain_level, kept.clinics) == (Role.ADMIN, True, True, [])
    assert _events(session, "user.changed") == [] and _events(session, "user.deactivated") == []
    assert api("admin").post("/clinics", {"code": "PAR", "name": "Paris", "timezone": "Europe/Paris"}) \
        .status_code == 201  # chain-level administration goes on


def test_once_another_chain_level_admin_exists_the_first_may_be_made_clinic_level(api, world, session):
    _clinic_admin(session, world)
    admin = world.users["admin"]
    second = api("admin").post("/users", {"username": "admin-2", "password": "long-enough-pw", "role": "admin"})
    assert second.status_code == 201 and second.get_json()["clinic_ids"] == []
    moved = api("admin").patch(f"/users/{admin.id}", {"clinic_ids": [world.clinic.id]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["clinic_ids"] == [world.clinic.id]
    (event,) = _events(session, "user.changed")
    assert event.details["chain_level"] == {"from": True, "to": False}


def test_an_inactive_chain_level_admin_does_not_count_as_the_one_that_remains(api, world, session):
    admin = world.users["admin"]
    other = make_user(session, "admin-2", Role.ADMIN, None)
    _clinic_admin(session, world)
    assert api("admin").patch(f"/users/{other.id}", {"active": False}).status_code == 200
    refused = api("admin").patch(f"/users/{admin.id}", {"clinic_ids": [world.clinic.id]})
    assert (refused.status_code, error_code(refused)) == (409, "last_admin")


def test_a_clinic_level_admin_may_go_while_a_chain_level_admin_remains(api, world, session):
    lon_admin = _clinic_admin(session, world)
    answer = api("admin").patch(f"/users/{lon_admin.id}", {"active": False})
    assert answer.status_code == 200 and answer.get_json()["active"] is False


# --- an admin never deactivates themselves ---------------------------------------------------------


def test_an_admin_may_not_deactivate_their_own_account(api, world, session):
    admin = world.users["admin"]
    other = make_user(session, "admin-2", Role.ADMIN, None)  # so that admin is not the last one
    session.flush()
    refused = api("admin").patch(f"/users/{admin.id}", {"active": False})
    assert (refused.status_code, error_code(refused)) == (409, "cannot_deactivate_self"), refused.get_json()
    assert "your own account" in refused.get_json()["error"]["message"]
    session.expire_all()
    assert session.get(User, admin.id).is_active
    assert api("admin").get("/clinics").status_code == 200  # still signed in
    # Another admin may.
    assert api(other).patch(f"/users/{admin.id}", {"active": False}).get_json()["active"] is False


def test_a_clinic_level_admin_may_not_deactivate_their_own_account_either(api, world, session):
    lon_admin = _clinic_admin(session, world)
    refused = api(lon_admin).patch(f"/users/{lon_admin.id}", {"active": False})
    assert (refused.status_code, error_code(refused)) == (409, "cannot_deactivate_self")


# --- a fridge holding cold stock stays temperature-sensitive ------------------------------------------


def excursion_body() -> dict:
    now = utcnow()
    return {"started_at": (now - dt.timedelta(hours=3)).isoformat(),
            "ended_at": (now - dt.timedelta(hours=1)).isoformat(), "min_c": "9.5", "max_c": "14"}


def test_a_fridge_holding_2_to_8_stock_cannot_be_unmarked_and_its_excursions_still_hold(api, world, session):
    nyc_fridge = world.location(clinic=world.other_clinic)
    before = utcnow() - dt.timedelta(days=2)
    world.receive("botox", lot="NYC-B1", expiry=FAR, containers=2, location=nyc_fridge, now=before)
    world.receive("hylenex", lot="NYC-H1", expiry=FAR, location=nyc_fridge, now=before)
    world.receive("firm_filler", lot="NYC-F1", expiry=FAR, location=nyc_fridge, now=before)  # room temperature
    manager = api(world.nyc_manager())

    refused = manager.patch(f"/locations/{nyc_fridge.id}", {"temperature_sensitive": False})
    assert (refused.status_code, error_code(refused)) == (409, "location_holds_cold_stock"), refused.get_json()
    error = refused.get_json()["error"]
    assert error["details"] == {"id": nyc_fridge.id, "containers": 3}
    assert "holds 3 containers that must be kept at 2-8 °C" in error["message"]
    assert "Move them to another fridge first" in error["message"]
    both = manager.patch(f"/locations/{nyc_fridge.id}", {"kind": "room", "temperature_sensitive": False})
    assert error_code(both) == "location_holds_cold_stock"
    session.expire_all()
    assert session.get(Location, nyc_fridge.id).temperature_sensitive is True
    assert _events(session, "location.changed") == []

    # The kind alone does not switch the cold chain off: an excursion there still holds the toxin.
    assert manager.patch(f"/locations/{nyc_fridge.id}", {"kind": "room"}).get_json()["temperature_sensitive"] is True
    excursion = manager.post(f"/locations/{nyc_fridge.id}/excursions", excursion_body())
    assert excursion.status_code == 201, excursion.get_json()
    assert len(excursion.get_json()["held"]) == 3


def test_a_place_whose_cold_stock_is_gone_may_be_unmarked_and_the_change_is_audited(api, world, session):
    fridge = world.location()
    vial = world.container("botox", lot="GONE1", expiry=FAR)
    world.container("firm_filler", lot="STAY-F1", expiry=FAR)  # kept at room temperature: no reason to refuse
    waste(world, vial)  # nothing kept cold is left in it
    session.flush()
    answer = api("clinic_manager").patch(f"/locations/{fridge.id}", {"temperature_sensitive": False})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["temperature_sensitive"] is False
    (event,) = _events(session, "location.changed")
    assert event.details == {"temperature_sensitive": {"from": True, "to": False}}
    assert event.actor_id == world.users["clinic_manager"].id and event.object_id == str(fridge.id)
