"""QA at the cart: a refused waste kept what the nurse chose, and said why beside the field; a closed treatment's
draws and every waste of a treatment can be corrected from its page; a waste, mix or correction posted to another
treatment's address writes nothing; the waste reason of an expired or past beyond-use vial is chosen for her."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import Container, Movement, MovementKind, utcnow
from tests.factories import World, close_treatment, draw, reconstitute, start_treatment
from tests.pages.conftest import csrf_token


def _start(world: World, ref: str, **kwargs):
    return start_treatment(world, ref, at=utcnow(), **kwargs)


def _wastes(session) -> int:
    return session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.WASTE))


def _reversals(session) -> int:
    return session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.REVERSAL))


def _post(client, path: str, page: str, **fields: str):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **fields})


def _top_flashes(html: str) -> list[str]:
    """The messages at the top of the page (base.html's flashes), not those beside a field."""
    return re.findall(r'<div class="flash flash-error"[^>]*>([^<]*)</div>', html)


@pytest.mark.parametrize(("fields", "field", "said"), [
    ({"reason": "other", "quantity": "1", "note": ""}, "note", "Say in a note why this was wasted."),
    ({"reason": "contaminated", "quantity": "200", "note": "seal torn"}, "quantity", "Only 100 U left"),
    ({"reason": "contaminated", "quantity": "0", "note": "seal torn"}, "quantity", "Quantity: give a number above zero."),
])
def test_a_refused_waste_stays_open_as_she_filled_it_with_why_beside_the_field(browser_client, world, session,
                                                                               fields, field, said):
    """QA: the page came back with the waste section closed, Reason back on "Dropped", Quantity and Note empty and
    the message at the top of the page, so that a nurse who typed the note recorded "dropped"."""
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = _start(world, "P-WASTE")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}?container={vial.label_code}"
    answer = _post(client, f"/cart/treatments/{treatment.id}/waste", page, container=vial.label_code, **fields)
    html = answer.get_data(as_text=True)
    assert answer.status_code in (409, 422)
    assert '<details class="waste" open>' in html
    assert re.search(rf'<option selected value="{fields["reason"]}">', html)
    assert re.search(rf'id="waste_quantity"[^>]*value="{fields["quantity"]}"', html)
    if fields["note"]:
        assert re.search(rf'id="note"[^>]*value="{fields["note"]}"', html)
    beside = re.search(rf'id="waste-{field}-refusal"[^>]*>([^<]*)<', html)
    assert beside and said in beside.group(1).replace("&#39;", "'"), html
    assert not any(said in flash for flash in _top_flashes(html))  # said once, beside its field
    assert _wastes(session) == 0


def test_a_zero_dose_is_said_with_the_fields_name(browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment = _start(world, "P-ZERO")
    session.flush()
    client = browser_client("nurse")
    answer = _post(client, f"/cart/treatments/{treatment.id}/draws", f"/cart/treatments/{treatment.id}",
                   container=syringe.label_code, quantity="0", unit="mL", area="lip", emergency="")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Quantity: give a number above zero." in html
    assert "quantity: give" not in html


def test_a_closed_treatments_draws_and_wastes_are_corrected_from_its_page(browser_client, world, session):
    """QA: once closed, the draws lost their "Correct" button and no waste (the closing's included) was listed
    with one, though the service corrects both."""
    vial = reconstitute(world, world.container("botox", lot="CLS1"), at=utcnow())
    other = reconstitute(world, world.container("botox", lot="CLS2"), at=utcnow())
    treatment = _start(world, "P-CLOSED")
    dose = draw(world, treatment, vial, "10", at=utcnow()).draw
    draw(world, treatment, other, "4", at=utcnow())
    closed = close_treatment(world, treatment, at=utcnow())
    session.flush()
    closing_wastes = {w.container_id: w for w in closed.wasted}
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}"
    html = client.get(page).get_data(as_text=True)
    assert "Wasted in this treatment" in html
    for movement_id in (dose.movement_id, closing_wastes[vial.id].id, closing_wastes[other.id].id):
        assert f'action="{page}/movements/{movement_id}/reverse"' in html, movement_id
    assert "Single-patient remainder: left when treatment" in html

    fixed = client.post(f"{page}/movements/{dose.movement_id}/reverse",
                        data={"csrf_token": csrf_token(client, page), "reason": "recorded twice"},
                        follow_redirects=True)
    assert "Corrected:" in fixed.get_data(as_text=True)
    fixed = client.post(f"{page}/movements/{closing_wastes[other.id].id}/reverse",
                        data={"csrf_token": csrf_token(client, page), "reason": "vial kept for the safety lead"},
                        follow_redirects=True)
    html = fixed.get_data(as_text=True)
    assert "Corrected: the quantity is back in its container" in html
    assert _reversals(session) == 2
    for movement_id in (dose.movement_id, closing_wastes[other.id].id):
        assert f'action="{page}/movements/{movement_id}/reverse"' not in html  # corrected once, marked so
    assert html.count(">corrected<") == 2


def test_a_waste_made_at_the_cart_is_listed_with_its_treatment_and_corrected_there(browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    treatment = _start(world, "P-DROP")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}"
    done = _post(client, f"{page}/waste", f"{page}?container={syringe.label_code}", container=syringe.label_code,
                 reason="dropped", quantity="")
    assert done.status_code == 302
    (wasted,) = session.scalars(select(Movement).where(Movement.kind == MovementKind.WASTE)).all()
    assert wasted.treatment_id == treatment.id
    html = client.get(page).get_data(as_text=True)
    assert "Wasted in this treatment" in html and f'action="{page}/movements/{wasted.id}/reverse"' in html
    undone = client.post(f"{page}/movements/{wasted.id}/reverse",
                         data={"csrf_token": csrf_token(client, page), "reason": "the wrong syringe"},
                         follow_redirects=True)
    assert "Corrected: the quantity is back in its container" in undone.get_data(as_text=True)
    session.expire_all()
    assert session.get(Container, syringe.id).remaining == Decimal("0.55")


def test_nothing_is_written_for_a_treatment_that_is_not_there(browser_client, world, session):
    """QA: the London syringe's waste posted to New York's treatment (or to one that does not exist) was recorded,
    then the page said "Not found", inviting a retry and a second waste. So were a mix and a correction."""
    (syringe,) = world.receive("filler").containers
    sealed = world.container("botox", lot="MIX1")
    here = _start(world, "P-HERE")
    mistaken = draw(world, here, reconstitute(world, world.container("botox", lot="DRW1"), at=utcnow()), "4",
                    at=utcnow()).draw
    new_york = _start(world, "P-NY", clinic=world.other_clinic, user="admin")
    elsewhere = _start(world, "P-ELSEWHERE")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{here.id}"
    for treatment_id in (new_york.id, 999999):
        wasted = _post(client, f"/cart/treatments/{treatment_id}/waste", page, container=syringe.label_code,
                       reason="dropped", quantity="0.01")
        mixed = _post(client, f"/cart/treatments/{treatment_id}/reconstitute", page, container=sealed.label_code,
                      diluent_ml="2.5")
        undone = _post(client, f"/cart/treatments/{treatment_id}/movements/{mistaken.movement_id}/reverse", page,
                       reason="wrong vial")
        assert (wasted.status_code, mixed.status_code, undone.status_code) == (404, 404, 404), treatment_id
    # A correction names the treatment the entry belongs to, not another one of the clinic's.
    assert _post(client, f"/cart/treatments/{elsewhere.id}/movements/{mistaken.movement_id}/reverse", page,
                 reason="wrong vial").status_code == 404
    session.expire_all()
    assert session.get(Container, syringe.id).remaining == Decimal("0.55")
    assert session.get(Container, sealed.id).reconstituted_at is None
    assert _wastes(session) == 0 and _reversals(session) == 0


def test_another_patients_open_syringe_is_not_wasted_from_this_patients_page(browser_client, world, session):
    (syringe,) = world.receive("filler").containers
    first = _start(world, "P-FIRST")
    draw(world, first, syringe, "0.2", unit="mL", area="lip", at=utcnow())
    second = _start(world, "P-SECOND")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{second.id}?scan={syringe.label_code}"
    html = client.get(page).get_data(as_text=True)
    assert 'data-code="container_other_patient"' in html
    assert "Waste from this container" not in html
    assert "waste it in that patient&#39;s treatment, not in this one" in html
    answer = _post(client, f"/cart/treatments/{second.id}/waste", page, container=syringe.label_code,
                   reason="dropped", quantity="")
    assert answer.status_code == 409 and 'data-code="container_other_patient"' in answer.get_data(as_text=True)
    assert _wastes(session) == 0
    # From her own treatment's page, it is hers to waste.
    own = f"/cart/treatments/{first.id}?container={syringe.label_code}"
    assert "Waste from this container" in client.get(own).get_data(as_text=True)


@pytest.mark.parametrize("why", ["expired", "beyond_use"])
def test_a_vial_to_waste_because_it_is_expired_or_past_beyond_use_has_that_reason_chosen(browser_client, world,
                                                                                         session, why):
    vial = world.container("botox", lot="OLD1")
    if why == "expired":
        vial.lot.expiry = utcnow().date() - dt.timedelta(days=3)
    else:
        reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=30))
    treatment = _start(world, "P-OLD")
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(
        as_text=True)
    assert "Do not use." in html and "Waste from this container" in html
    assert re.search(rf'<option selected value="{why}">', html), html
    assert '<option selected value="dropped">' not in html

