"""The trace page, for a typed lot number on file nowhere: it offers the lots the number could be a slip for (a
look-alike character, one edit), each a link to its trace, within the user's clinics only, and never opens one
for them. An exact number still opens its trace."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token


@pytest.fixture
def lots(world):
    """Voluma lot VM88B21 at London; Botox lot VM88B22 (one edit from it) at New York only."""
    london = world.container("firm_filler", lot="VM88B21").lot
    new_york = world.container("botox", lot="VM88B22", location=world.location("Fridge", world.other_clinic)).lot
    world.session.flush()
    return {"lon": london, "nyc": new_york}


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def signed_in(app, user):
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    return client


def test_a_look_alike_slip_offers_the_lot_on_file_as_a_link(browser_client, lots):
    response = browser_client("safety").get("/trace?q=VM88B2l")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "No lot VM88B2l on file. Did you mean VM88B21 (Juvederm Voluma XC 1.0 mL, exp. 2027-03-31) or VM88B22 " \
           "(Botox Cosmetic 100 U, exp. 2027-03-31)?" in words(html)
    assert f'<a href="/trace/lots/{lots["lon"].id}" class="mono">VM88B21</a>' in html
    assert f'<a href="/trace/lots/{lots["nyc"].id}" class="mono">VM88B22</a>' in html
    assert 'data-code="not_found"' in html and "never received" not in html
    assert "Quarantine this lot" not in html  # nothing is opened for the user: a recall names the exact lot


def test_a_clinic_safety_lead_is_never_offered_another_clinics_lot(app, world, lots):
    client = signed_in(app, world.lon_safety_lead())
    html = client.get("/trace?q=vm88-b2l").get_data(as_text=True)
    assert "No lot vm88-b2l on file. Did you mean VM88B21 (Juvederm Voluma XC 1.0 mL, exp. 2027-03-31)?" \
        in words(html)
    assert "VM88B22" not in html and f"/trace/lots/{lots['nyc'].id}" not in html
    # A number near New York's lot alone: London's lead hears the plain answer, a chain-level lead the lot.
    html = client.get("/trace?q=VM88B22X").get_data(as_text=True)
    assert "VM88B22" not in words(html).replace("VM88B22X", "") and "never received" in html
    html = signed_in(app, world.users["safety"]).get("/trace?q=VM88B22X").get_data(as_text=True)
    assert f'<a href="/trace/lots/{lots["nyc"].id}" class="mono">VM88B22</a>' in html


def test_an_exact_number_still_opens_its_trace(browser_client, lots):
    response = browser_client("safety").get("/trace?q=vm88b21")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Did you mean" not in html
    assert f'data-lot-id="{lots["lon"].id}"' in html and "Juvederm Voluma XC 1.0 mL" in html


def test_a_number_near_no_lot_says_it_was_never_received(browser_client, lots):
    response = browser_client("safety").get("/trace?q=QX4471")
    assert response.status_code == 404
    assert "No lot QX4471 on file: it was never received here." in response.get_data(as_text=True)


def test_at_most_five_lots_are_offered(browser_client, world, lots):
    for last in "3456789":
        world.container("firm_filler", lot=f"VM88B2{last}")
    world.session.flush()
    html = browser_client("safety").get("/trace?q=VM88B2l").get_data(as_text=True)
    offered = re.findall(r'href="/trace/lots/\d+" class="mono">([^<]+)<', html)
    assert len(offered) == 5 and offered[0] == "VM88B21"  # the look-alike first, then by number
    assert offered == ["VM88B21", "VM88B22", "VM88B23", "VM88B24", "VM88B25"]
