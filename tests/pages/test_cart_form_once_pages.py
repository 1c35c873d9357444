"""A cart form that reaches the server twice records once; a patient's open treatment is continued, not opened
again; the start form remembers where the nurse works.

Each form that writes carries a one-time key (form_key) made when the page is rendered: these tests post what
the page rendered, as a browser does, and post it again as a second click or a browser's retry would.
"""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from inventory.blueprints.pages.once import ALREADY_RECORDED
from inventory.cart import service as cart
from inventory.models import Draw, IdempotencyRecord, Movement, MovementKind, Treatment, utcnow
from inventory.services.clock import to_clinic_time
from inventory.services.permissions import Scope
from tests.factories import World, reconstitute, start_treatment

_HIDDEN = r'name="{name}" type="hidden" value="([^"]*)"|name="{name}" value="([^"]*)"'


def hidden(html: str, name: str, action: str = "") -> str:
    """The value of a hidden field in the form posting to ``action`` (any form when empty)."""
    start = html.index(f'action="{action}"') if action else 0
    match = re.compile(_HIDDEN.format(name=name)).search(html, start)
    assert match, f"no {name} in the form for {action or 'the page'}"
    return match.group(1) or match.group(2)


def start(world: World, ref: str) -> Treatment:
    return start_treatment(world, ref, at=utcnow())


def count(session, column) -> int:
    session.expire_all()
    return session.scalar(select(func.count(column)))


def page_form(client, path: str, action: str) -> dict[str, str]:
    """The CSRF token and one-time key of the form posting to ``action``, as rendered on ``path``."""
    html = client.get(path).get_data(as_text=True)
    return {"csrf_token": hidden(html, "csrf_token", action), "form_key": hidden(html, "form_key", action)}


def scanned_at_the_cart(browser_client, world, session, ref: str, container, verb: str):
    """A nurse's new treatment for ``ref`` with ``container`` scanned: the treatment, her client, the ``verb``
    form's action (``draws``, ``waste``) and that form's token and key as the page rendered them."""
    treatment = start(world, ref)
    session.flush()
    client = browser_client("nurse")
    action = f"/cart/treatments/{treatment.id}/{verb}"
    form = page_form(client, f"/cart/treatments/{treatment.id}?scan={container.label_code}", action)
    return treatment, client, action, form


# --- a form sent twice ------------------------------------------------------------------------------------------


def test_a_draw_form_sent_twice_records_one_draw_and_the_second_lands_on_the_treatment(
        browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-TWICE", syringe, "draws")
    data = {**form, "container": syringe.label_code, "quantity": "0.2", "unit": "mL", "area": "lip", "emergency": ""}
    first = client.post(action, data=data)
    second = client.post(action, data=data)
    assert first.status_code == second.status_code == 302
    assert second.location == first.location  # where the first one landed: the treatment, the syringe shown
    landed = client.get(second.location).get_data(as_text=True)
    assert ALREADY_RECORDED in landed
    assert count(session, Draw.id) == 1
    session.refresh(syringe)
    assert syringe.remaining == Decimal("0.35")


def test_a_waste_form_sent_twice_wastes_once(browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-WASTE", syringe, "waste")
    data = {**form, "container": syringe.label_code, "reason": "dropped", "quantity": "0.1"}
    first = client.post(action, data=data, follow_redirects=True)
    assert f"Wasted from {syringe.label_code}: 0.45 mL left." in first.get_data(as_text=True)
    second = client.post(action, data=data, follow_redirects=True)
    html = second.get_data(as_text=True)
    assert ALREADY_RECORDED in html and "Wasted from" not in html
    assert second.request.path == f"/cart/treatments/{treatment.id}"
    session.refresh(syringe)
    assert syringe.remaining == Decimal("0.45")
    wastes = select(func.count(Movement.id)).where(Movement.kind == MovementKind.WASTE)
    assert session.scalar(wastes) == 1


def test_a_start_form_sent_twice_opens_one_treatment(browser_client, world, session):
    client = browser_client("nurse")
    data = {**page_form(client, "/cart", ""), "external_ref": "P-1002", "name": "Omar Reyes",
            "location_id": world.location("Room 1").id}
    first = client.post("/cart", data=data)
    second = client.post("/cart", data=data)
    assert first.status_code == second.status_code == 302 and second.location == first.location
    assert ALREADY_RECORDED in client.get(second.location).get_data(as_text=True)
    assert count(session, Treatment.id) == 1


def test_reconstitute_and_close_sent_twice_do_it_once_without_a_refusal(browser_client, world, session):
    vial = world.container("botox")
    treatment = start(world, "P-MIX")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}?scan={vial.label_code}"
    action = f"/cart/treatments/{treatment.id}/reconstitute"
    data = {**page_form(client, page, action), "container": vial.label_code, "diluent_ml": "2.5"}
    client.post(action, data=data)
    again = client.post(action, data=data, follow_redirects=True).get_data(as_text=True)
    assert ALREADY_RECORDED in again and "already_reconstituted" not in again
    reconstitutions = select(func.count(Movement.id)).where(Movement.kind == MovementKind.RECONSTITUTE)
    assert session.scalar(reconstitutions) == 1

    action = f"/cart/treatments/{treatment.id}/close"
    data = page_form(client, f"/cart/treatments/{treatment.id}", action)
    closed = client.post(action, data=data)
    again_closed = client.post(action, data=data)
    assert again_closed.location == closed.location == "/cart"
    html = client.get("/cart").get_data(as_text=True)
    assert ALREADY_RECORDED in html and "treatment_closed" not in html


def test_each_correction_form_has_its_own_key(browser_client, world, session):
    """The draws table renders one "Put back" form per draw: a key shared between rows would take the second
    correction for a repeat of the first."""
    (syringe,) = world.receive("filler").containers
    treatment = start(world, "P-ROWS")
    for area in ("lip", "chin"):
        cart.draw(session, actor=world.users["nurse"], scope=Scope.everything(), treatment_id=treatment.id,
                  container_id=syringe.id, quantity=Decimal("0.1"), unit="mL", area=area, now=utcnow())
    session.flush()
    client = browser_client("nurse")
    html = client.get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    for draw in treatment.draws:
        action = f"/cart/treatments/{treatment.id}/movements/{draw.movement_id}/reverse"
        response = client.post(action, data={"csrf_token": hidden(html, "csrf_token", action),
                                             "form_key": hidden(html, "form_key", action), "reason": "wrong patient"},
                               follow_redirects=True)
        assert "Corrected:" in response.get_data(as_text=True)
    session.refresh(syringe)
    assert syringe.remaining == Decimal("0.55")


# --- a refused submit: the form shown again is good for the corrected submit ---------------------------------


def test_a_refused_draw_then_the_corrected_submit_of_the_same_form_records(browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-FIX", syringe, "draws")
    base = {**form, "container": syringe.label_code, "unit": "mL", "emergency": ""}

    no_area = client.post(action, data={**base, "quantity": "0.2"})  # a form error: nothing claimed
    assert no_area.status_code == 422
    assert hidden(no_area.get_data(as_text=True), "form_key", action) == form["form_key"]
    assert count(session, IdempotencyRecord.id) == 0
    too_much = client.post(action, data={**base, "quantity": "5", "area": "lip"})  # a rule
    html = too_much.get_data(as_text=True)
    assert too_much.status_code == 409 and 'data-code="insufficient_quantity"' in html
    # The form as she typed it, with a key of its own: the refused one stays claimed with its answer, so that
    # the browser sending it again later records nothing (tests/pages/test_cart_form_resent_pages.py).
    kept = hidden(html, "form_key", action)
    assert kept != form["form_key"]
    assert count(session, IdempotencyRecord.id) == 1

    corrected = client.post(action, data={**base, "form_key": kept, "quantity": "0.2", "area": "lip"},
                            follow_redirects=True)
    page = corrected.get_data(as_text=True)
    assert "Recorded 0.2 mL into lips." in page and ALREADY_RECORDED not in page
    assert count(session, Draw.id) == 1


def test_a_dose_to_confirm_then_confirmed_with_the_same_form_records(browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment, client, action, form = scanned_at_the_cart(browser_client, world, session, "P-CONF", vial, "draws")
    base = {**form, "container": vial.label_code, "unit": "U", "emergency": "", "quantity": "70", "area": "glabella"}
    asked = client.post(action, data=base)
    assert asked.status_code == 409
    key = hidden(asked.get_data(as_text=True), "form_key", action)
    recorded = client.post(action, data={**base, "form_key": key, "confirm": "above_label_max",
                                         "confirm_reason": "reviewed"}, follow_redirects=True)
    assert "Recorded 70 U" in recorded.get_data(as_text=True)
    assert count(session, Draw.id) == 1


def test_a_page_key_is_kept_apart_from_the_api_keys(browser_client, world, session):
    client = browser_client("nurse")
    form = page_form(client, "/cart", "")
    client.post("/cart", data={**form, "external_ref": "P-NS", "name": "Nia Shaw",
                               "location_id": world.location("Room 1").id})
    (record,) = session.scalars(select(IdempotencyRecord)).all()
    assert record.key.startswith("page:" + form["form_key"] + ":") and record.key != form["form_key"]
    assert record.status_code == 302 and record.response_body.startswith("/cart/treatments/")


# --- a patient with an open treatment --------------------------------------------------------------------------


def test_a_patient_with_an_open_treatment_is_taken_to_it(browser_client, world, session):
    first = start(world, "P-1002")
    first.patient.name = "Omar Reyes"
    session.flush()
    client = browser_client("nurse")
    room = world.location("Room 1")
    response = client.post("/cart", data={**page_form(client, "/cart", ""), "external_ref": "P-1002",
                                          "location_id": room.id})
    assert response.status_code == 302
    assert response.location.startswith(f"/cart/treatments/{first.id}?new_for={room.id}&signed_in=")
    html = client.get(response.location).get_data(as_text=True)
    started = to_clinic_time(first.started_at, world.clinic.timezone).strftime("%H:%M")
    assert (f"Omar Reyes already has an open treatment, started {started} in Room 1: continue it here."
            in html)
    assert "Start a new treatment" in html
    assert count(session, Treatment.id) == 1


def test_start_a_new_treatment_anyway_opens_a_second_one(browser_client, world, session):
    first = start(world, "P-1002")
    session.flush()
    client = browser_client("nurse")
    room = world.location("Room 1")
    html = client.get(f"/cart/treatments/{first.id}?new_for={room.id}").get_data(as_text=True)
    data = {name: hidden(html, name, "/cart")
            for name in ("csrf_token", "form_key", "external_ref", "location_id", "new_treatment")}
    assert data["new_treatment"] == "1" and data["external_ref"] == "P-1002"
    response = client.post("/cart", data=data)
    second = session.scalars(select(Treatment).where(Treatment.id != first.id)).one()
    assert response.location == f"/cart/treatments/{second.id}"
    assert (second.patient_id, second.closed_at) == (first.patient_id, None)
    # Only offered when the nurse was taken there, and never for a closed treatment.
    assert "Start a new treatment" not in client.get(f"/cart/treatments/{first.id}").get_data(as_text=True)


def test_the_open_treatment_of_another_clinic_does_not_count(session, world):
    """The patient reference is per clinic; a treatment elsewhere is another patient's record."""
    here = start(world, "P-7")
    assert cart.open_treatment_of(session, scope=Scope.everything(), patient_id=here.patient_id,
                                  clinic_id=world.other_clinic.id) is None
    assert cart.open_treatment_of(session, scope=Scope.everything(), patient_id=here.patient_id,
                                  clinic_id=world.clinic.id) == here
    assert cart.open_treatment_of(session, scope=Scope([world.other_clinic.id]), patient_id=here.patient_id,
                                  clinic_id=world.clinic.id) is None


# --- where she works -----------------------------------------------------------------------------------------------


def _selected(html: str) -> str | None:
    select_html = html[html.index('name="location_id"'):].split("</select>")[0]
    match = re.search(r'<option selected value="(\d+)"|<option value="(\d+)" selected', select_html)
    return (match.group(1) or match.group(2)) if match else None


def test_the_start_form_remembers_the_location_used_last(browser_client, world, session):
    room = world.location("Room 1")  # not the first entry: "LON · Cart" is
    client = browser_client("nurse")
    assert _selected(client.get("/cart").get_data(as_text=True)) is None
    started = client.post("/cart", data={**page_form(client, "/cart", ""), "external_ref": "P-LOC",
                                         "name": "Lena Ortiz", "location_id": room.id})
    treatment_path = started.location
    action = treatment_path + "/close"
    client.post(action, data=page_form(client, treatment_path, action))
    assert _selected(client.get("/cart").get_data(as_text=True)) == str(room.id)


def test_a_remembered_location_is_never_offered_to_someone_who_may_not_use_it(browser_client, world, session):
    client = browser_client("other_nurse")  # New York only
    with client.session_transaction() as cookie:
        cookie["vialog_cart_location"] = [world.users["other_nurse"].id, world.location("Room 1").id]  # London's
    html = client.get("/cart").get_data(as_text=True)
    assert _selected(html) is None
    with client.session_transaction() as cookie:  # another user's choice on a shared tablet
        cookie["vialog_cart_location"] = [world.users["nurse"].id, world.location("Room 1", world.other_clinic).id]
    assert _selected(client.get("/cart").get_data(as_text=True)) is None


def test_close_sent_without_a_key_still_closes(browser_client, world, session):
    """A page rendered before keys existed (or a script) is recorded as before."""
    treatment = start(world, "P-OLD")
    session.flush()
    client = browser_client("nurse")
    action = f"/cart/treatments/{treatment.id}/close"
    token = page_form(client, f"/cart/treatments/{treatment.id}", action)["csrf_token"]
    client.post(action, data={"csrf_token": token})
    session.expire_all()
    assert session.get(Treatment, treatment.id).closed_at is not None
