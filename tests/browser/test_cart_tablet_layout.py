"""The cart's pages at a tablet's size (1024 x 768 landscape, 768 x 1024 portrait): nothing off the screen, every
button readable.

QA found: a dose confirmed with the nurse's reason ("dose confirmed (above the label's maximum): touch-up ...") was
tagged on one line that never wrapped, so the treatment's draws table ran off a tablet's screen and its Correct
column could only be reached by scrolling sideways (so did the wasted table's, its label and lot in a column each,
at 768 px); and the beyond-use page's "Waste all" button was red words on
the dark blue of a primary button, unreadable.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from inventory.cart import service as cart
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.extensions import db
from inventory.counterfeit.models import Supplier
from inventory.models import Clinic, Location, Patient, Treatment, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.browser.conftest import screenshot, sign_in

BOTOX_100 = demo_gtin(1)
TABLETS = [(1024, 768), (768, 1024)]
REASON = "touch-up at the two-week review: the left brow still lifts, agreed with the patient beforehand"


def _botox_of_a_new_lot(s, lot: str, vials: int):
    users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(["manager", "nurse"])))}
    london = s.scalar(select(Clinic).where(Clinic.code == "LON"))
    place = {loc.name: loc for loc in s.scalars(select(Location).where(Location.clinic_id == london.id))}
    supplier_id = s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
    receipt = receiving.receive(s, actor=users["manager"], scope=Scope.everything(),
                                location_id=place["Medicines fridge"].id, containers=vials, now=utcnow(),
                                gtin=BOTOX_100, lot_number=lot, expiry=dt.date(2028, 1, 31), supplier_id=supplier_id)
    return users["nurse"], london, place, receipt.containers


def _a_confirmed_dose(live_server) -> int:
    """A treatment whose second Botox dose passed the label's maximum, confirmed with a reason (made once per
    live server: both tablet sizes look at it)."""
    with live_server.app.app_context():
        s = db.session
        made = s.scalar(select(Treatment.id).join(Treatment.patient)
                        .where(Patient.external_ref == f"TAB-{live_server.backend}"))
        if made is not None:
            return made
        nurse, london, place, (vial,) = _botox_of_a_new_lot(s, f"TAB{live_server.backend[:2].upper()}1", 1)
        everywhere, now = Scope.everything(), utcnow()
        patient = cart.find_or_create_patient(s, scope=everywhere, clinic_id=london.id,
                                              external_ref=f"TAB-{live_server.backend}", name="Tess Tablet")
        treatment = cart.start_treatment(s, actor=nurse, scope=everywhere, patient_id=patient.id,
                                         location_id=place["Treatment cart"].id, now=now)
        cart.reconstitute(s, actor=nurse, scope=everywhere, container_id=vial.id, diluent_ml=Decimal("2.5"), now=now)
        cart.draw(s, actor=nurse, scope=everywhere, treatment_id=treatment.id, container_id=vial.id,
                  quantity=Decimal("60"), unit="U", area="glabella", now=now)
        cart.draw(s, actor=nurse, scope=everywhere, treatment_id=treatment.id, container_id=vial.id,
                  quantity=Decimal("8"), unit="U", area="forehead", now=now, confirm=["above_label_max"],
                  confirm_reason=REASON)
        db.session.commit()
        return treatment.id


def _a_closed_treatment_with_wastes(live_server) -> int:
    """A dose, a waste at the cart with its note, and the remainder wasted by the close."""
    with live_server.app.app_context():
        s = db.session
        nurse, london, place, (vial,) = _botox_of_a_new_lot(s, f"TAB{live_server.backend[:2].upper()}3", 1)
        everywhere, now = Scope.everything(), utcnow()
        patient = cart.find_or_create_patient(s, scope=everywhere, clinic_id=london.id,
                                              external_ref=f"TAB-W-{live_server.backend}", name="Wren Wasted")
        treatment = cart.start_treatment(s, actor=nurse, scope=everywhere, patient_id=patient.id,
                                         location_id=place["Treatment cart"].id, now=now)
        cart.reconstitute(s, actor=nurse, scope=everywhere, container_id=vial.id, diluent_ml=Decimal("2.5"), now=now)
        cart.draw(s, actor=nurse, scope=everywhere, treatment_id=treatment.id, container_id=vial.id,
                  quantity=Decimal("20"), unit="U", area="glabella", now=now)
        cart.waste(s, actor=nurse, scope=everywhere, container_id=vial.id, reason="other", quantity=Decimal("2"),
                   note="drawn up too much", treatment_id=treatment.id, now=now)
        cart.close_treatment(s, actor=nurse, scope=everywhere, treatment_id=treatment.id, now=now)
        db.session.commit()
        return treatment.id


def test_a_closed_treatments_wasted_table_stays_on_a_portrait_tablets_screen(page, live_server):
    treatment_id = _a_closed_treatment_with_wastes(live_server)
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, "nurse")
    page.goto(f"/cart/treatments/{treatment_id}")
    wasted = page.locator("table.wastes tbody tr")
    expect(wasted).to_have_count(2)
    expect(wasted.first).to_contain_text("drawn up too much")
    _fits_the_screen(page)
    for row in wasted.all():
        box = row.locator("summary:has-text('Correct')").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 768, "Correct is off the screen"
    screenshot(page, f"cart-wasted-768-{live_server.backend}")


def _past_beyond_use(live_server) -> None:
    """A vial reconstituted two days ago: past its 24 hours, listed on the beyond-use page."""
    with live_server.app.app_context():
        s = db.session
        nurse, _london, _place, (vial,) = _botox_of_a_new_lot(s, f"TAB{live_server.backend[:2].upper()}2", 1)
        cart.reconstitute(s, actor=nurse, scope=Scope.everything(), container_id=vial.id, diluent_ml=Decimal("2.5"),
                          now=utcnow() - dt.timedelta(days=2))
        db.session.commit()


def _fits_the_screen(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), (
        "the page scrolls sideways")


@pytest.mark.parametrize("size", TABLETS, ids=lambda size: f"{size[0]}x{size[1]}")
def test_a_dose_confirmed_with_a_long_reason_keeps_the_draws_table_on_a_tablets_screen(page, live_server, size):
    treatment_id = _a_confirmed_dose(live_server)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, "nurse")
    page.goto(f"/cart/treatments/{treatment_id}")
    confirmed = page.locator("table.draws tbody tr").nth(1)
    expect(confirmed).to_contain_text(REASON)
    _fits_the_screen(page)
    correct = confirmed.locator("summary:has-text('Correct')")
    box = correct.bounding_box()
    assert box is not None and box["x"] + box["width"] <= size[0], "Correct is off the screen"
    screenshot(page, f"cart-confirmed-dose-{size[0]}-{live_server.backend}")


def _luminance(rgb: str) -> float:
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


# The button's words and what is behind them: its own background, or the first ancestor's that is not transparent.
_COLOURS = """b => {
  let el = b, bg = getComputedStyle(el).backgroundColor;
  while (el && (bg === "transparent" || bg.startsWith("rgba") && bg.endsWith(", 0)"))) {
    el = el.parentElement; bg = el ? getComputedStyle(el).backgroundColor : "rgb(255, 255, 255)";
  }
  return [getComputedStyle(b).color, bg];
}"""


def test_the_beyond_use_pages_waste_all_button_is_readable(page, live_server):
    _past_beyond_use(live_server)
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, "nurse")
    page.goto("/cart/beyond-use")
    button = page.locator("button:has-text('Waste all')")
    expect(button).to_be_visible()
    colour, background = button.evaluate(_COLOURS)
    light, dark = sorted([_luminance(colour), _luminance(background)], reverse=True)
    assert (light + 0.05) / (dark + 0.05) >= 4.5, f"{colour} on {background}"
    _fits_the_screen(page)
