"""A cart form answered at its own address (a refusal, a question) and sent again by the browser long after records
nothing.

QA: a new patient's reference scanned at the cart, the page asks for the name (answered in place, a 200 to the
POST); name typed, Start, the treatment opens; Close; Back twice, and Reload resends the first form (the reference
alone). The patient was on file by then, and a second treatment opened without a word. The first form's key had
never been claimed: a refusal rolled its claim back. Now the answer keeps it, and the page asks with a new key.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from inventory.blueprints.pages.once import ALREADY_ANSWERED, ALREADY_RECORDED
from inventory.models import Draw, Treatment, utcnow
from tests.factories import reconstitute
from tests.pages.test_cart_form_once_pages import count, hidden, page_form, scanned_at_the_cart


def _treatments(session) -> int:
    return count(session, Treatment.id)


def test_the_start_form_resent_after_the_name_was_asked_opens_no_second_treatment(browser_client, world, session):
    client = browser_client("nurse")
    reference_only = {**page_form(client, "/cart", ""), "external_ref": "QA-3003",
                      "location_id": str(world.location("Room 1").id)}
    asked = client.post("/cart", data=reference_only)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "No patient QA-3003 on file yet" in page
    started = client.post("/cart", data={**reference_only, "form_key": hidden(page, "form_key"), "name": "Quinn Able"})
    assert started.status_code == 302 and started.location.startswith("/cart/treatments/")
    close = started.location + "/close"
    assert client.post(close, data=page_form(client, started.location, close)).location == "/cart"

    resent = client.post("/cart", data=reference_only)  # Back twice, Reload: "Confirm Form Resubmission"

    assert resent.status_code == 302 and resent.location == "/cart"
    landed = client.get("/cart").get_data(as_text=True)
    assert ALREADY_ANSWERED in landed and ALREADY_RECORDED not in landed
    assert _treatments(session) == 1


def test_the_start_form_sent_again_from_the_page_that_asked_asks_again(browser_client, world, session):
    """Start pressed again on the asking page with the name still empty is a form of its own: asked again."""
    client = browser_client("nurse")
    reference_only = {**page_form(client, "/cart", ""), "external_ref": "QA-3004",
                      "location_id": str(world.location("Room 1").id)}
    asked = client.post("/cart", data=reference_only).get_data(as_text=True)
    asking_key = hidden(asked, "form_key")
    assert asking_key != reference_only["form_key"]  # the question comes with a form of its own
    again = client.post("/cart", data={**reference_only, "form_key": asking_key})
    assert again.status_code == 200 and "No patient QA-3004 on file yet" in again.get_data(as_text=True)
    assert _treatments(session) == 0


def test_the_dose_asked_to_be_confirmed_resent_after_it_was_confirmed_records_nothing(
        browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-RESEND", vial, "draws")
    unconfirmed = {**form, "container": vial.label_code, "unit": "U", "emergency": "", "quantity": "70",
                   "area": "glabella"}
    asked = client.post(action, data=unconfirmed)
    assert asked.status_code == 409
    confirmation = {**unconfirmed, "form_key": hidden(asked.get_data(as_text=True), "form_key", action),
                    "confirm": "above_label_max", "confirm_reason": "reviewed"}
    confirmed = client.post(action, data=confirmation)
    assert confirmed.status_code == 302 and count(session, Draw.id) == 1

    resent = client.post(action, data=unconfirmed)  # Back to the question, Reload
    assert resent.status_code == 302
    assert ALREADY_ANSWERED in client.get(resent.location).get_data(as_text=True)
    resent_confirmation = client.post(action, data=confirmation)  # and the confirmation's own resend
    assert resent_confirmation.status_code == 302
    assert ALREADY_RECORDED in client.get(resent_confirmation.location).get_data(as_text=True)
    assert count(session, Draw.id) == 1
    session.refresh(vial)
    assert vial.remaining == Decimal(30)


def test_a_refused_draw_resent_once_it_would_be_allowed_records_nothing(browser_client, world, session):
    """Refused for want of what is left; a draw put back (corrected) makes room; the nurse records her dose anew.
    The refused form sent again by the browser then must not record it a second time."""
    (syringe,) = world.receive("filler").containers  # 0.55 mL
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-ROOM", syringe, "draws")
    base = {"container": syringe.label_code, "unit": "mL", "emergency": "", "area": "lip"}
    client.post(action, data={**form, **base, "quantity": "0.5"})
    page = client.get(f"/cart/treatments/{treatment.id}?scan={syringe.label_code}").get_data(as_text=True)
    refused_form = {"csrf_token": form["csrf_token"], "form_key": hidden(page, "form_key", action), **base,
                    "quantity": "0.3"}
    refused = client.post(action, data=refused_form)
    assert refused.status_code == 409 and 'data-code="insufficient_quantity"' in refused.get_data(as_text=True)

    (first,) = session.scalars(select(Draw)).all()
    reverse = f"/cart/treatments/{treatment.id}/movements/{first.movement_id}/reverse"
    page = client.get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    client.post(reverse, data={"csrf_token": form["csrf_token"], "form_key": hidden(page, "form_key", reverse),
                               "reason": "wrong quantity"})
    redo = client.post(action, data={**refused_form, "form_key": hidden(refused.get_data(as_text=True), "form_key",
                                                                        action)})
    assert redo.status_code == 302

    resent = client.post(action, data=refused_form)

    assert resent.status_code == 302 and ALREADY_ANSWERED in client.get(resent.location).get_data(as_text=True)
    session.refresh(syringe)
    assert syringe.remaining == Decimal("0.25")
    assert session.scalar(select(func.count(Draw.id))) == 2  # the 0.5 (put back) and the 0.3
