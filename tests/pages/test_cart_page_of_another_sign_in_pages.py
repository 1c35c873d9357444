"""One cart computer, two nurses: a treatment page opened by one nurse never carries on as the next one.

The scan form is a GET: sent from a page opened before another sign-in in another tab, it used to show the vial
and its draw form under the new user's name, the header's name the only change, and the draw was recorded as hers.
The page carries its sign-in's mark (cart/pages.py SIGN_IN_ARG); a scan, or a vial shown again after a draw,
arriving with the mark of an earlier sign-in scans nothing and says who is signed in now.
"""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import urlencode

from flask.testing import FlaskClient
from sqlalchemy import func, select

from inventory.models import Draw, Role, utcnow
from tests.factories import PASSWORD, make_user, start_treatment
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_form_once_pages import hidden, page_form

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _scan_form(page: str) -> dict[str, str]:
    """What the page's scan form sends besides the scan: its hidden fields, as a browser sends them."""
    start = page.index('class="scan-form"')
    return dict(_HIDDEN.findall(page, start, page.index("</form>", start)))


def _sign_out_and_in(client: FlaskClient, username: str) -> None:
    """What tab 2 does on the shared computer: Sign out, then sign in as another user."""
    client.post("/logout", data={"csrf_token": csrf_token(client, "/cart")})
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)


def _second_nurse(world, session):
    nurse = make_user(session, "nurse-b", Role.NURSE, [world.clinic])
    nurse.display_name = "Nurse Bea"
    session.flush()
    return nurse


def _draws(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Draw.id)))


def test_a_scan_from_a_page_opened_before_another_sign_in_scans_nothing_and_says_who_is_signed_in(
        browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment = start_treatment(world, "P-TAB", at=utcnow())
    _second_nurse(world, session)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}"
    first_form = _scan_form(client.get(path).get_data(as_text=True))  # tab 1: the nurse's page

    _sign_out_and_in(client, "nurse-b")  # tab 2
    scanned = client.get(path, query_string={**first_form, "scan": syringe.label_code})  # tab 1 scans

    assert scanned.status_code == 302 and scanned.location == path  # the scan is not in the page's address
    page = client.get(scanned.location).get_data(as_text=True)
    said = html_lib.unescape(page)
    assert ("This page was opened before the last sign-in on this computer: you are signed in as Nurse Bea. "
            "Nothing was scanned: scan again to record as Nurse Bea.") in said
    assert syringe.label_code not in page and f'action="{path}/draws"' not in page  # no vial, no draw form
    fresh_form = _scan_form(page)
    assert fresh_form != first_form

    # Scanned again from the page as it is now: the vial, ready to record as the nurse signed in.
    again = client.get(path, query_string={**fresh_form, "scan": syringe.label_code})
    assert again.status_code == 200 and f'action="{path}/draws"' in again.get_data(as_text=True)
    assert "opened before the last sign-in" not in again.get_data(as_text=True)


def test_a_vial_shown_again_after_a_draw_is_not_shown_to_the_next_user(browser_client, world, session):
    """After a draw the page shows the vial again (?container=): reloaded after another sign-in, it is refused
    like a scan, and no draw is recorded under the second nurse's name."""
    (syringe,) = world.receive("filler").containers
    treatment = start_treatment(world, "P-RELOAD", at=utcnow())
    _second_nurse(world, session)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}"
    action = f"{path}/draws"
    scan_form = _scan_form(client.get(path).get_data(as_text=True))
    data = {**page_form(client, f"{path}?{urlencode({**scan_form, 'scan': syringe.label_code})}", action),
            "container": syringe.label_code, "quantity": "0.1", "unit": "mL", "area": "lip", "emergency": ""}
    drawn = client.post(action, data=data)
    assert drawn.status_code == 302 and "container=" in drawn.location
    assert "Record draw" in client.get(drawn.location).get_data(as_text=True)  # her own page: the vial is shown

    _sign_out_and_in(client, "nurse-b")
    reloaded = client.get(drawn.location, follow_redirects=True)

    page = reloaded.get_data(as_text=True)
    assert reloaded.request.path == path and "you are signed in as Nurse Bea" in page
    assert f'action="{action}"' not in page
    assert _draws(session) == 1


def test_the_offer_of_a_separate_treatment_carries_the_sign_in(browser_client, world, session):
    first = start_treatment(world, "P-1002", at=utcnow())
    session.flush()
    _second_nurse(world, session)
    client = browser_client("nurse")
    room = world.location("Room 1")
    taken = client.post("/cart", data={**page_form(client, "/cart", ""), "external_ref": "P-1002",
                                       "location_id": room.id})
    assert taken.location.startswith(f"/cart/treatments/{first.id}?new_for={room.id}")
    assert "Start a new treatment" in client.get(taken.location).get_data(as_text=True)

    _sign_out_and_in(client, "nurse-b")
    page = client.get(taken.location, follow_redirects=True).get_data(as_text=True)
    assert "you are signed in as Nurse Bea" in page and "Start a new treatment" not in page


def test_a_scan_without_a_mark_is_scanned_as_before(browser_client, world, session):
    """An address typed or linked from elsewhere carries no mark: the page of whoever is signed in, as any page."""
    (syringe,) = world.receive("filler").containers
    treatment = start_treatment(world, "P-LINK", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}"
    page = client.get(path, query_string={"scan": syringe.label_code}).get_data(as_text=True)
    assert hidden(page, "form_key", f"{path}/draws")  # the draw form is there
