"""The users pages: a username is one name whatever its case, and every clinic is a choice of its own, never
what a form with no clinic ticked turns into."""

from __future__ import annotations

from sqlalchemy import select, update

from inventory.models import User
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token


def _post(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, form_page or path)})


def _user(session, username: str) -> User | None:
    session.expire_all()
    return session.scalar(select(User).where(User.username == username))


def test_signing_in_on_the_page_ignores_the_case_of_the_username(app, world):
    client = app.test_client()
    answer = _post(client, "/login", {"username": "NURSE", "password": PASSWORD})
    assert answer.status_code == 302 and "/login" not in answer.headers["Location"]
    assert client.get("/cart").status_code == 200


def test_a_look_alike_username_is_refused_on_the_page(browser_client, world, session):
    admin = browser_client("admin")
    answer = _post(admin, "/users", {"username": "Lon-Manager", "role": "nurse", "clinic_ids": [str(world.clinic.id)],
                                     "password": "long-enough-pw"})
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert 'data-code="username_taken"' in html and "usernames ignore case" in html
    assert _user(session, "Lon-Manager") is None
    renamed = _post(admin, f"/users/{world.users['nurse'].id}", {
        "username": "ADMIN", "role": "nurse", "clinic_ids": [str(world.clinic.id)]})
    assert renamed.status_code == 409 and 'data-code="username_taken"' in renamed.get_data(as_text=True)
    assert _user(session, "nurse") is not None


def test_no_clinic_ticked_is_refused_not_every_clinic(browser_client, world, session):
    admin = browser_client("admin")
    for role in ("nurse", "manager"):
        answer = _post(admin, "/users", {"username": f"new-{role}", "role": role, "password": "long-enough-pw"})
        assert answer.status_code == 422, role
        html = answer.get_data(as_text=True)
        assert 'data-code="validation_error"' in html and "Choose the clinics" in html
        assert 'value="new-' + role + '"' in html  # what was typed stays
        assert _user(session, f"new-{role}") is None


def test_a_nurse_is_never_made_chain_level_even_with_the_box_ticked(browser_client, world, session):
    admin = browser_client("admin")
    answer = _post(admin, "/users", {"username": "chain-nurse", "role": "nurse", "chain_level": "y",
                                     "password": "long-enough-pw"})
    assert answer.status_code == 422 and "works at named clinics" in answer.get_data(as_text=True)
    assert _user(session, "chain-nurse") is None


def test_every_clinic_is_ticked_on_purpose_and_the_list_shows_who_is_chain_level(browser_client, world, session):
    admin = browser_client("admin")
    page = admin.get("/users").get_data(as_text=True)
    assert 'id="new-chain-level" name="chain_level"' in page
    created = _post(admin, "/users", {"username": "chain-safety", "role": "safety_lead", "chain_level": "y",
                                      "password": "long-enough-pw"})
    assert created.status_code == 302
    user = _user(session, "chain-safety")
    assert user.is_chain_level and user.clinics == []
    rows = {row.split("</a>")[0].rsplit(">", 1)[1]: row
            for row in admin.get("/users").get_data(as_text=True).split("<tr class=")[1:]}
    assert "Every clinic" in rows["chain-safety"] and "chain level" in rows["chain-safety"]
    assert "chain level" not in rows["nurse"] and "LON" in rows["nurse"]
    detail = admin.get(f"/users/{user.id}").get_data(as_text=True)
    assert '<input checked id="edit-chain-level" name="chain_level" type="checkbox" value="y">' in detail


def test_a_nurse_left_at_every_clinic_by_older_data_is_flagged_and_must_be_given_clinics(browser_client, world,
                                                                                       session):
    nurse = world.users["nurse"]
    session.execute(update(User).where(User.id == nurse.id).values(is_chain_level=True))
    session.flush()
    admin = browser_client("admin")
    listed = admin.get("/users").get_data(as_text=True)
    assert "works at named clinics: choose them" in listed
    detail = admin.get(f"/users/{nurse.id}").get_data(as_text=True)
    assert 'id="chain-level-warning"' in detail
    kept = _post(admin, f"/users/{nurse.id}", {"role": "nurse", "chain_level": "y", "display_name": "Nina"})
    assert kept.status_code == 422
    fixed = _post(admin, f"/users/{nurse.id}", {"role": "nurse", "clinic_ids": [str(world.clinic.id)]})
    assert fixed.status_code == 302
    assert not _user(session, "nurse").is_chain_level
