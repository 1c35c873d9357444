"""A form key already used is not a repeat when the form sends something else: a page brought back with Back
(or shown again as typed) after its key recorded one thing records the next, different thing. QA: a second box
received with the first box's key landed on the first receipt as "Already recorded", and was never received."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.blueprints.pages.once import ALREADY_RECORDED
from inventory.models import Draw, utcnow
from tests.factories import start_treatment
from tests.pages.test_cart_form_once_pages import page_form


def draws(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Draw.id)))


def test_a_different_draw_sent_with_a_used_key_is_recorded_and_an_exact_repeat_is_not(browser_client, world, session):
    first_syringe, second_syringe = world.receive("filler", containers=2).containers
    treatment = start_treatment(world, "P-BACK", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    action = f"/cart/treatments/{treatment.id}/draws"
    form = page_form(client, f"/cart/treatments/{treatment.id}?scan={first_syringe.label_code}", action)
    first = {**form, "container": first_syringe.label_code, "quantity": "0.2", "unit": "mL", "area": "lip",
             "emergency": ""}
    assert client.post(action, data=first).status_code == 302
    assert draws(session) == 1

    # Back to the page that held the key, and a different dose sent from it: recorded.
    other = {**first, "container": second_syringe.label_code, "quantity": "0.3"}
    recorded = client.post(action, data=other, follow_redirects=True)
    assert ALREADY_RECORDED not in recorded.get_data(as_text=True)
    assert draws(session) == 2

    # That one sent again exactly (a second click): not recorded again.
    repeat = client.post(action, data=other, follow_redirects=True)
    assert ALREADY_RECORDED in repeat.get_data(as_text=True)
    assert draws(session) == 2
