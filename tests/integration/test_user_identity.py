"""Who a user is and where they work, as services: usernames are one name whatever their case, and only a role
that works across the chain may work at every clinic (QA: look-alike accounts; a nurse saved without a clinic)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inventory.admin import service
from inventory.errors import Forbidden, Unauthorized, UsernameTaken, ValidationError
from inventory.models import AuditEvent, Role, User
from inventory.services import auth
from inventory.services.auth import ClinicsRequired
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, HASHER, NOW, PASSWORD, make_user, refusal


def _create(session, world, username: str, role: Role = Role.NURSE, clinics=None, **kwargs) -> User:
    clinic_ids = [world.clinic.id] if clinics is None else [c.id for c in clinics]
    return service.create_user(session, HASHER, actor=world.users["admin"], scope=EVERYWHERE, username=username,
                               password=PASSWORD, role=role, clinic_ids=clinic_ids, now=NOW, **kwargs)


def _usernames(session) -> list[str]:
    return list(session.scalars(select(User.username).order_by(User.id)))


# --- usernames are one name whatever their case -----------------------------------------------------


@pytest.mark.parametrize("typed", ["MANAGER", "Manager", " mAnAgEr ", "ＭＡＮＡＧＥＲ"])  # the last: full-width
def test_a_username_another_user_holds_in_another_case_is_refused(session, world, typed):
    before = _usernames(session)
    error = refusal(lambda: _create(session, world, typed))
    assert isinstance(error, UsernameTaken) and error.code == "username_taken"
    assert "'manager'" in error.message and "ignore case" in error.message
    assert _usernames(session) == before


def test_sign_in_finds_the_user_whatever_the_case_typed(session, world):
    assert auth.authenticate(session, HASHER, "NURSE", PASSWORD) is world.users["nurse"]
    assert auth.authenticate(session, HASHER, " Nyc-Nurse ", PASSWORD) is world.users["other_nurse"]
    assert isinstance(refusal(lambda: auth.authenticate(session, HASHER, "NURSE", "not-the-password")), Unauthorized)


def test_a_rename_to_another_users_name_in_any_case_is_refused_and_ones_own_in_another_case_is_not(session, world):
    nurse, admin = world.users["nurse"], world.users["admin"]
    error = refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=nurse.id, now=NOW,
                                                username="Lon-Manager", role=Role.MANAGER))
    assert isinstance(error, UsernameTaken)
    assert (nurse.username, nurse.role) == ("nurse", Role.NURSE)  # nothing of the refused change was made
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=nurse.id, now=NOW, username="Nurse")
    session.expire_all()
    assert session.get(User, nurse.id).username == "Nurse"
    assert auth.authenticate(session, HASHER, "nurse", PASSWORD).id == nurse.id
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.changed")).one()
    assert event.details == {"username": {"from": "nurse", "to": "Nurse"}}


def test_the_database_refuses_a_second_name_in_another_case_that_slipped_past_the_look_up(session, world,
                                                                                        monkeypatch):
    """Two admins at the same instant: the look-up saw neither; the unique key refuses the second, answered
    username_taken rather than a server error, and neither the new user nor the rename is left behind."""
    looked_up, seen = auth.find_user, []

    def blind(times: int):
        def find_user(session, username):  # the other admin's row was not there yet when the service looked
            seen.append(username)
            return None if len(seen) <= times else looked_up(session, username)
        seen.clear()
        monkeypatch.setattr(auth, "find_user", find_user)

    blind(times=2)  # the service looks twice before it writes
    before = _usernames(session)
    assert isinstance(refusal(lambda: _create(session, world, "ADMIN")), UsernameTaken)
    assert seen == ["ADMIN"] * 3  # the third look, after the database refused the name
    assert _usernames(session) == before
    blind(times=1)
    nurse = world.users["nurse"]
    assert isinstance(refusal(lambda: service.update_user(
        session, actor=world.users["admin"], scope=EVERYWHERE, user_id=nurse.id, now=NOW, username="Safety")),
        UsernameTaken)
    assert seen == ["Safety"] * 2
    session.expire_all()
    assert _usernames(session) == before
    with pytest.raises(IntegrityError), session.begin_nested():  # and without any service in the way
        session.add(User(username="Safety", password_hash="x", role=Role.NURSE, is_chain_level=False))
        session.flush()


def test_the_key_follows_every_username_it_is_given():
    user = User(username="MGR-LON", password_hash="x", role=Role.NURSE)
    assert user.username_key == "mgr-lon"
    user.username = "Straße"
    assert user.username_key == "strasse"


# --- only a role that works across the chain works at every clinic ------------------------------------


def test_a_nurse_without_a_clinic_is_refused_not_made_chain_level(session, world):
    before = _usernames(session)
    error = refusal(lambda: _create(session, world, "new-nurse", clinics=[]))
    assert isinstance(error, ClinicsRequired) and error.code == "validation_error"
    assert error.details["field"] == "clinic_ids" and "choose at least one" in error.message
    assert _usernames(session) == before
    # The command line's path (auth.create_user) keeps the same rule.
    assert isinstance(refusal(lambda: auth.create_user(session, HASHER, username="cli-nurse", password=PASSWORD,
                                                        role=Role.NURSE, clinics=None)), ClinicsRequired)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SAFETY_LEAD, Role.ADMIN])
def test_a_chain_role_without_clinics_is_chain_level_as_the_api_has_it(session, world, role):
    user = _create(session, world, f"chain-{role.value}", role=role, clinics=[])
    assert user.is_chain_level and user.clinics == [] and Scope.for_user(user).clinic_ids is None


def test_an_explicit_choice_must_agree_with_the_clinics(session, world):
    forgot = refusal(lambda: _create(session, world, "forgot", role=Role.MANAGER, clinics=[], chain_level=False))
    assert isinstance(forgot, ClinicsRequired)
    both = refusal(lambda: _create(session, world, "both", role=Role.MANAGER, chain_level=True))
    assert isinstance(both, ValidationError) and both.details["field"] == "clinic_ids"
    nurse = refusal(lambda: _create(session, world, "chain-nurse", clinics=[], chain_level=True))
    assert isinstance(nurse, ClinicsRequired)
    chosen = _create(session, world, "chain-manager", role=Role.MANAGER, clinics=[], chain_level=True)
    assert chosen.is_chain_level
    placed = _create(session, world, "lon-safety-2", role=Role.SAFETY_LEAD, chain_level=False)
    assert not placed.is_chain_level and placed.clinics == [world.clinic]


def test_a_clinic_level_admin_still_may_not_make_a_chain_level_user(session, world):
    lon_admin = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    error = refusal(lambda: service.create_user(
        session, HASHER, actor=lon_admin, scope=Scope.for_user(lon_admin), username="x-chain", password=PASSWORD,
        role=Role.MANAGER, chain_level=True, now=NOW))
    assert isinstance(error, Forbidden)


def test_a_nurse_cannot_lose_every_clinic_nor_a_chain_manager_become_a_chain_nurse(session, world):
    admin, nurse, manager = world.users["admin"], world.users["nurse"], world.users["manager"]
    emptied = refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=nurse.id, now=NOW,
                                                  clinic_ids=[]))
    assert isinstance(emptied, ClinicsRequired)
    demoted = refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=manager.id,
                                                  now=NOW, role=Role.NURSE))
    assert isinstance(demoted, ClinicsRequired)
    assert manager.role is Role.MANAGER and manager.is_chain_level  # nothing of the refused change was made
    ended = refusal(lambda: service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=manager.id,
                                                now=NOW, chain_level=False))
    assert isinstance(ended, ClinicsRequired)
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=manager.id, now=NOW, role=Role.NURSE,
                        clinic_ids=[world.other_clinic.id])
    assert (manager.role, manager.is_chain_level, manager.clinics) == (Role.NURSE, False, [world.other_clinic])
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.changed")).one()
    assert event.details["chain_level"] == {"from": True, "to": False}
    assert event.details["clinic_ids"] == {"from": [], "to": [world.other_clinic.id]}


def test_the_command_line_refuses_a_nurse_without_a_clinic(app, world, session):
    result = app.test_cli_runner().invoke(args=["create-user", "sam", "--role", "nurse", "--password-stdin"],
                                          input="a-long-enough-secret\n")
    assert result.exit_code != 0 and "works at named clinics" in result.output
    assert session.scalar(select(User.id).where(User.username == "sam")) is None
