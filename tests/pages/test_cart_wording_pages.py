"""Words the nurse reads at the cart say what is so: doses that stand, which vial closing wasted, a re-treatment
warning that no other dose clears, a refusal that says "do not use" once, an amount asked with its unit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from inventory.cart import service as cart
from inventory.models import utcnow
from inventory.services.permissions import Scope
from tests.factories import draw, reconstitute, reverse, start_treatment
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_pages import post_draw, start


def test_the_open_treatments_count_the_doses_that_stand(browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = start(world, "P-COUNT")
    now = utcnow()
    draw(world, treatment, vial, "4", at=now)
    mistaken = draw(world, treatment, vial, "6", at=now, area="forehead")
    reverse(world, mistaken.draw, at=now)
    session.flush()
    html = browser_client("nurse").get("/cart").get_data(as_text=True)
    assert "1 dose(s) drawn" in html and "2 dose(s) drawn" not in html


def test_closing_says_which_vial_it_wasted_and_how_much(browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = start(world, "P-CLOSE")
    draw(world, treatment, vial, "20", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    closed = client.post(f"/cart/treatments/{treatment.id}/close",
                         data={"csrf_token": csrf_token(client, f"/cart/treatments/{treatment.id}")},
                         follow_redirects=True).get_data(as_text=True)
    assert f"Wasted what was left of Botox Cosmetic 100 U {vial.label_code}: 80 U (single-patient)." in closed


def test_a_retreatment_warning_is_not_said_to_clear_with_another_dose(browser_client, world, session):
    world.botox.retreat_interval_days = 90
    vial = reconstitute(world, world.container("botox"), at=utcnow() - dt.timedelta(days=30))
    earlier = start_treatment(world, "P-RETREAT", at=utcnow() - dt.timedelta(days=30))
    draw(world, earlier, vial, "10", at=utcnow() - dt.timedelta(days=30))
    cart.close_treatment(session, actor=world.users["nurse"], scope=Scope.everything(), treatment_id=earlier.id,
                         now=utcnow() - dt.timedelta(days=30))
    second = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = start(world, "P-RETREAT")
    session.flush()
    html = post_draw(browser_client("nurse"), treatment, second.label_code, quantity="4", unit="U",
                     area="glabella").get_data(as_text=True)
    assert 'data-code="retreatment_too_soon"' in html
    assert "does not change how long ago the patient was last treated" in html
    assert "record it without confirming" not in html


def test_a_refusal_says_do_not_use_once(browser_client, world, session):
    vial = world.container("botox", lot="OLD2")
    vial.lot.expiry = utcnow().date() - dt.timedelta(days=3)
    treatment = start(world, "P-ONCE")
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(as_text=True)
    refusal = html.split('class="flash flash-error refusal"')[1].split("</div>")[0]
    assert refusal.lower().count("do not use") == 1


def test_not_enough_left_names_the_unit_of_what_was_asked(browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = start(world, "P-MORE")
    session.flush()
    html = post_draw(browser_client("nurse"), treatment, vial.label_code, quantity="150", unit="U",
                     area="glabella", confirm="above_label_max,above_typical_range",
                     confirm_reason="checking the message").get_data(as_text=True)
    assert "Only 100 U left" in html and "150 U asked." in html
    assert Decimal(vial.remaining) == Decimal("100")


def test_a_dose_into_an_area_the_nurse_described_says_that_area(browser_client, world, session):
    """QA: "Recorded 150 USP U (1 mL) into other (describe)." left out the area the nurse had described."""
    vial = reconstitute(world, world.container("botox"), at=utcnow())
    treatment = start(world, "P-OTHER")
    session.flush()
    page = post_draw(browser_client("nurse"), treatment, vial.label_code, quantity="4", unit="U", area="other",
                     area_detail="upper lip occlusion").get_data(as_text=True)
    assert "Recorded 4 U (0.1 mL) into upper lip occlusion." in page
