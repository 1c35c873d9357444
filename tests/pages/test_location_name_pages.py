"""Exploratory QA: on /locations, clearing a location's name and pressing Save answered 422 with no message and the
old name back in the box. A refused save now shows why beside the field and keeps what was typed."""

from __future__ import annotations

import re

from inventory.models import Location
from tests.pages.conftest import csrf_token


def _save(client, location: Location, **fields):
    data = {f"loc{location.id}-{name}": value for name, value in fields.items()}
    return client.post(f"/locations/{location.id}", data=data | {"action": "save",
                                                                "csrf_token": csrf_token(client, "/locations")})


def _section(html: str, location: Location) -> str:
    match = re.search(rf'<section[^>]*id="location-{location.id}".*?</section>', html, re.S)
    assert match, f"no section for location {location.id}"
    return match.group(0)


def _name_input(section: str, location: Location) -> str:
    match = re.search(rf'<input[^>]*id="loc{location.id}-name"[^>]*>', section)
    assert match
    return match.group(0)


def test_qa_repro_clearing_a_locations_name_says_why_and_keeps_what_was_typed(browser_client, world, session):
    room = world.location("Room 1")
    manager = browser_client("manager")

    refused = _save(manager, room, name="", kind="storage")

    assert refused.status_code == 422
    section = _section(refused.get_data(as_text=True), room)
    assert '<p class="field-error">Give the location a name.</p>' in section
    name = _name_input(section, room)
    assert 'value=""' in name and "Room 1" not in name
    assert re.search(r'<option selected value="storage">|<option value="storage" selected>', section)
    session.expire_all()
    assert session.get(Location, room.id).name == "Room 1"


def test_a_name_already_taken_keeps_what_was_typed_beside_its_message(browser_client, world, session):
    cart = world.location("Cart")
    manager = browser_client("manager")

    refused = _save(manager, cart, name="fridge", kind="cart")

    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert 'data-code="duplicate_name"' in html
    section = _section(html, cart)
    assert "This clinic already has a location named &#39;Fridge&#39;." in section
    assert 'value="fridge"' in _name_input(section, cart)
    session.expire_all()
    assert session.get(Location, cart.id).name == "Cart"
