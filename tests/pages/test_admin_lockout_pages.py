"""Acceptance defects of the administration pages: the last chain-level admin stays one, an admin is not offered
(nor allowed) to deactivate their own account, destructive buttons ask first (data-confirm), and a fridge
holding 2-8 °C stock is not unmarked as temperature-sensitive."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from inventory.models import AuditEvent, Location, Role, User
from tests.factories import make_user
from tests.pages.conftest import csrf_token


def _post(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, form_page or path)})


def _refusal_code(html: str) -> str | None:
    match = re.search(r'data-code="([a-z_]+)"', html)
    return match.group(1) if match else None


def _form_opening(html: str, marker: str) -> str:
    """The opening <form ...> tag of the form that holds ``marker`` (a button's text, an input)."""
    at = html.index(marker)
    start = html.rindex("<form", 0, at)
    return unescape(html[start:html.index(">", start) + 1])


# --- users ------------------------------------------------------------------------------------------


def test_the_last_chain_level_admin_cannot_make_themselves_clinic_level_on_the_page(browser_client, world, session):
    make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    session.flush()
    admin = browser_client("admin")
    user_id = world.users["admin"].id
    answer = _post(admin, f"/users/{user_id}", {"username": "admin", "role": "admin",
                                                "clinic_ids": [str(world.clinic.id)]})
    assert answer.status_code == 409
    html = unescape(answer.get_data(as_text=True))
    assert _refusal_code(html) == "last_admin"
    assert "a chain-level admin must remain" in html and "Make another user a chain-level admin first." in html
    session.expire_all()
    assert session.get(User, user_id).is_chain_level
    assert admin.get("/clinics").status_code == 200


def test_an_admins_own_page_offers_no_deactivate_and_the_post_is_refused(browser_client, world, session):
    make_user(session, "admin-2", Role.ADMIN, None)  # so that admin is not the last admin
    session.flush()
    admin = browser_client("admin")
    user_id = world.users["admin"].id
    own = admin.get(f"/users/{user_id}").get_data(as_text=True)
    assert "Deactivate admin" not in own and "You cannot deactivate your own account" in own
    answer = _post(admin, f"/users/{user_id}/active", {"active": "0"}, f"/users/{world.users['nurse'].id}")
    assert answer.status_code == 409
    assert _refusal_code(answer.get_data(as_text=True)) == "cannot_deactivate_self"
    session.expire_all()
    assert session.get(User, user_id).is_active
    assert admin.get("/users").status_code == 200  # still signed in


def test_deactivating_another_user_asks_first_saying_what_happens(browser_client, world):
    html = browser_client("admin").get(f"/users/{world.users['nurse'].id}").get_data(as_text=True)
    form = _form_opening(html, "Deactivate nurse</button>")
    assert 'data-confirm="Deactivate nurse? Their sessions and API tokens end at once."' in form


def test_reactivating_asks_nothing(browser_client, world, session):
    world.users["nurse"].is_active = False
    session.flush()
    html = browser_client("admin").get(f"/users/{world.users['nurse'].id}").get_data(as_text=True)
    assert "data-confirm" not in _form_opening(html, "Reactivate nurse</button>")


# --- locations and suppliers: the destructive buttons ask first ---------------------------------------


def test_retiring_a_location_asks_first_and_saving_it_does_not(browser_client, world):
    fridge = world.location()
    html = browser_client("manager").get("/locations").get_data(as_text=True)
    retire = re.search(rf'<button[^>]*form="retire-location-{fridge.id}"[^>]*>Retire</button>', html)
    assert retire and 'value="retire"' in retire.group(0)
    retire_form = _form_opening(html, f'id="retire-location-{fridge.id}"')
    assert 'data-confirm="Retire LON · Fridge? Stock can no longer be received into it or moved to it; ' \
           'its history stays."' in retire_form
    assert "data-confirm" not in _form_opening(html, f'id="loc{fridge.id}-name"')


def test_the_retire_button_still_retires_an_empty_location(browser_client, world, session):
    room = world.location("Room 1")
    answer = _post(browser_client("manager"), f"/locations/{room.id}", {"action": "retire"}, "/locations")
    assert answer.status_code == 302
    session.expire_all()
    assert not session.get(Location, room.id).is_active


def test_stopping_a_supplier_asks_first(browser_client, world):
    html = browser_client("manager").get("/suppliers").get_data(as_text=True)
    form = _form_opening(html, "Stop: refuse its deliveries</button>")
    assert 'data-confirm="Stop Allergan Aesthetics (direct)? Its deliveries are refused from now on, at every ' \
           'clinic, until it is authorised again."' in form


# --- a fridge holding cold stock stays temperature-sensitive ------------------------------------------


def test_unmarking_a_fridge_that_holds_cold_stock_is_refused_on_the_page(browser_client, world, session):
    fridge = world.location()
    world.receive("botox", lot="KEPT-COLD", containers=2)
    session.flush()
    manager = browser_client("manager")
    prefix = f"loc{fridge.id}"
    # The box left unticked: a browser sends no temperature_sensitive at all.
    answer = _post(manager, f"/locations/{fridge.id}", {f"{prefix}-name": "Fridge", f"{prefix}-kind": "room",
                                                         "action": "save"}, "/locations")
    assert answer.status_code == 409
    html = unescape(answer.get_data(as_text=True))
    assert _refusal_code(html) == "location_holds_cold_stock"
    assert "Fridge holds 2 containers that must be kept at 2-8 °C" in html
    session.expire_all()
    kept = session.get(Location, fridge.id)
    assert kept.temperature_sensitive is True and kept.kind.value == "fridge"  # nothing of the save was kept
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "location.changed")).all() == []
