"""The first sign-in of a user an admin made: the password page says at once why it opened, and once she has
chosen her own password she goes on to the page she asked for (or her start page), told her password is set.
An ordinary change by a signed-in user still says her other sessions were signed out."""

from __future__ import annotations

from urllib.parse import quote

from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token

FIRST = "An admin set your first password: choose your own to continue."
SIGNED_OUT = "Your other sessions and API tokens were signed out"


def _post(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, form_page or path)})


def _new_nurse(browser_client, world, username: str = "new-nurse") -> None:
    admin = browser_client("admin")
    assert _post(admin, "/users", {"username": username, "display_name": "", "role": "nurse",
                                   "clinic_ids": [str(world.clinic.id)], "password": "admin-chose-it-1"}).status_code == 302


def _sign_in(app, username: str, password: str, next_page: str | None):
    client = app.test_client()
    login = "/login" + (f"?next={quote(next_page, safe='')}" if next_page else "")
    return client, _post(client, login, {"username": username, "password": password})


def _set_own(client, path: str):
    return _post(client, path, {"current_password": "admin-chose-it-1", "password": "my-own-secret-99",
                                "confirm": "my-own-secret-99"})


def test_a_nurse_an_admin_made_is_told_why_at_once_and_then_goes_on_to_the_page_she_asked_for(
        browser_client, app, world):
    _new_nurse(browser_client, world)
    fresh, signin = _sign_in(app, "new-nurse", "admin-chose-it-1", "/cart/treatments/4")
    password_page = signin.headers["Location"]
    assert password_page.endswith("/account/password?next=/cart/treatments/4")

    html = fresh.get(password_page).get_data(as_text=True)
    assert FIRST in html  # at once, not only after she tries another page
    assert "signs out your other sessions" not in html
    assert 'action="/account/password?next=/cart/treatments/4"' in html  # the page asked for goes with the form

    changed = _set_own(fresh, password_page)
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/cart/treatments/4")
    html = fresh.get("/cart").get_data(as_text=True)
    assert "Your password is set." in html and SIGNED_OUT not in html


def test_without_a_page_asked_for_or_with_another_sites_she_goes_to_her_start_page(browser_client, app, world):
    _new_nurse(browser_client, world, "nurse-a")
    _new_nurse(browser_client, world, "nurse-b")
    for username, asked in (("nurse-a", None), ("nurse-b", "//evil.example/cart")):
        fresh, signin = _sign_in(app, username, "admin-chose-it-1", asked)
        assert signin.headers["Location"].endswith("/account/password")  # another site's address is dropped
        changed = _set_own(fresh, "/account/password")
        assert changed.headers["Location"].endswith("/cart"), username  # a nurse starts at the cart
        assert "Your password is set." in fresh.get("/cart").get_data(as_text=True)


def test_a_next_page_added_by_hand_to_the_password_page_is_checked_too(browser_client, app, world):
    _new_nurse(browser_client, world)
    fresh, _ = _sign_in(app, "new-nurse", "admin-chose-it-1", None)
    changed = _set_own(fresh, "/account/password?next=https://evil.example/")
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/cart")


def test_after_a_reset_the_page_says_an_admin_set_the_password_not_that_it_is_the_first(browser_client, app, world):
    admin = browser_client("admin")
    user_id = world.users["nurse"].id
    assert _post(admin, f"/users/{user_id}/password", {"password": "admin-chose-it-1"}, f"/users/{user_id}") \
        .status_code == 302
    fresh, _ = _sign_in(app, world.users["nurse"].username, "admin-chose-it-1", "/kits")
    html = fresh.get("/account/password?next=%2Fkits").get_data(as_text=True)
    assert "An admin set your password: choose a new one of your own to continue." in html and FIRST not in html
    changed = _set_own(fresh, "/account/password?next=%2Fkits")
    assert changed.headers["Location"].endswith("/kits")


def test_an_ordinary_change_still_says_the_other_sessions_were_signed_out_and_stays(browser_client):
    manager = browser_client("manager")
    html = manager.get("/account/password?next=%2Fkits").get_data(as_text=True)
    assert "signs out your other sessions" in html and "An admin set" not in html
    changed = _post(manager, "/account/password?next=%2Fkits", {"current_password": PASSWORD,
                                                                "password": "another-secret-1",
                                                                "confirm": "another-secret-1"}, "/account/password")
    assert changed.headers["Location"].endswith("/account/password")  # no next for an ordinary change
    assert SIGNED_OUT in manager.get("/account/password").get_data(as_text=True)
