"""The administration's rules as services, on both databases: no HTTP in sight."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.admin import service
from inventory.errors import DuplicateGtin, Forbidden, LastAdmin, LocationHoldsStock, NotFound, UserInactive
from inventory.models import ApiToken, AuditEvent, Role
from inventory.services import auth
from tests.factories import EVERYWHERE, HASHER, NOW, PASSWORD, make_user, refusal


def _actions(session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_deactivating_raises_the_session_version_and_revokes_every_token(session, world):
    nurse = world.users["nurse"]
    version = nurse.session_version
    auth.issue_token(session, nurse, hours=1, now=NOW)
    auth.issue_token(session, nurse, hours=1, now=NOW)
    service.update_user(session, actor=world.users["admin"], scope=EVERYWHERE, user_id=nurse.id, now=NOW, active=False)
    assert nurse.session_version == version + 1 and not nurse.is_active
    revoked = session.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == nurse.id)).all()
    assert revoked == [NOW, NOW]
    assert _actions(session)[-1] == "user.deactivated"


def test_an_unchanged_user_writes_no_audit_event(session, world):
    nurse = world.users["nurse"]
    service.update_user(session, actor=world.users["admin"], scope=EVERYWHERE, user_id=nurse.id, now=NOW,
                        role=Role.NURSE, clinic_ids=[world.clinic.id])
    assert _actions(session) == []


def test_the_last_active_admin_stays_an_active_admin(session, world):
    admin = world.users["admin"]
    error = refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=admin.id, now=NOW,
                                                active=False))
    assert isinstance(error, LastAdmin)
    other = make_user(session, "admin-2", Role.ADMIN, None)
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=other.id, now=NOW, active=False)
    # An inactive admin does not count: admin is the last active one again.
    assert isinstance(refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=admin.id,
                                                          now=NOW, role=Role.MANAGER)), LastAdmin)


def test_a_reset_makes_the_user_change_the_password_and_refuses_an_inactive_user(session, world):
    nurse, admin = world.users["nurse"], world.users["admin"]
    service.change_password(session, HASHER, actor=admin, scope=EVERYWHERE, user_id=nurse.id,
                            password="temporary-pass-1", now=NOW)
    assert nurse.must_change_password and auth.verify_password(HASHER, nurse, "temporary-pass-1")
    service.change_password(session, HASHER, actor=nurse, scope=EVERYWHERE, user_id=nurse.id,
                            password="my-own-secret-9", current_password="temporary-pass-1", now=NOW)
    assert not nurse.must_change_password
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=nurse.id, now=NOW, active=False)
    assert isinstance(refusal(lambda: service.change_password(
        session, HASHER, actor=admin, scope=EVERYWHERE, user_id=nurse.id, password="another-pass-1", now=NOW,
    )), UserInactive)
    assert _actions(session) == ["user.password_reset", "user.password_changed", "user.deactivated"]


def test_a_clinic_level_admin_does_not_see_chain_level_users(session, world):
    lon_admin = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    scope = service.Scope.for_user(lon_admin)
    assert {u.username for u in service.list_users(session, scope)} == {"nurse", "lon-manager", "lon-admin"}
    assert isinstance(refusal(lambda: service.get_user(session, world.users["admin"].id, scope)), NotFound)
    assert isinstance(refusal(lambda: service.create_user(
        session, HASHER, actor=lon_admin, scope=scope, username="x-chain", password=PASSWORD, role=Role.NURSE,
        now=NOW)), Forbidden)


def test_a_gel_in_ml_takes_its_volume_as_its_quantity_and_a_gtin_stays_on_one_product(session, world):
    admin = world.users["admin"]
    gel = service.create_product(session, actor=admin, now=NOW, gtins=["5901234123457", "05901234123457"], fields={
        "name": "Belotero Balance 1 mL", "kind": "filler", "form": "gel", "base_unit": "mL",
        "volume_ml": Decimal("1"), "gprime_category": "low"})
    assert gel.quantity_per_container == Decimal("1") and [g.gtin for g in gel.gtins] == ["05901234123457"]
    assert not gel.requires_reconstitution
    error = refusal(lambda: service.update_product(session, actor=admin, product_id=world.botox.id, now=NOW,
                                                   fields={}, gtins=["5901234123457"]))
    assert isinstance(error, DuplicateGtin) and error.details == {"gtin": "05901234123457"}


def test_a_manager_may_restate_but_not_change_the_sharing_policy(session, world):
    manager, botox = world.users["manager"], world.botox
    service.update_product(session, actor=manager, product_id=botox.id, now=NOW,
                           fields={"is_multi_patient": False, "storage": "fridge"})
    assert isinstance(refusal(lambda: service.update_product(
        session, actor=manager, product_id=botox.id, now=NOW, fields={"is_multi_patient": True})), Forbidden)


def test_a_location_with_only_empty_containers_may_retire(session, world):
    room = world.location("Room 1")
    container = world.container("syringe", location=room)
    manager = world.users["manager"]
    assert isinstance(refusal(lambda: service.update_location(
        session, actor=manager, scope=EVERYWHERE, location_id=room.id, now=NOW, active=False)), LocationHoldsStock)
    from inventory.models import ContainerState
    container.state = ContainerState.EMPTY  # as the ledger leaves a used-up one
    session.flush()
    assert not service.update_location(session, actor=manager, scope=EVERYWHERE, location_id=room.id, now=NOW,
                                       active=False).is_active
    assert _actions(session)[-1] == "location.retired"


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Asia/Kolkata"])
def test_real_time_zones_pass(zone):
    assert service.check_timezone(f" {zone} ") == zone


@pytest.mark.parametrize("zone", ["", "London", "Europe/Londres", "../etc/passwd", "UTC+1"])
def test_made_up_time_zones_do_not(zone):
    with pytest.raises(service.ValidationError):
        service.check_timezone(zone)
