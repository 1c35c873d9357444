"""A scan landing in "Why this dose" while a dose waits for its reason is not used, and the dose waits on.

QA at the cart: the scanned vial opened and the dose, its area and the reason typed were dropped without a word (the
scanner guard sent the code to the scan field, as it does from any other field of the draw). While a dose waits for
its answer, a scan kept out of that form is not sent: the page says so beside the step, and the dose is still there to
confirm or change. The vial, Daxxify 100 U mixed in 1.2 mL, also shows its concentration to 2 decimals.
"""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.counterfeit.models import Supplier
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.extensions import db
from inventory.models import Clinic, Location, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.browser.conftest import screenshot, sign_in, wedge
from tests.browser.test_cart_scanner_guards import draws_of, start_treatment


def _daxxify_of_a_new_lot(live_server) -> list[str]:
    """Two Daxxify 100 U vials of a lot of this test's own in London's store room (the demo's two are others')."""
    with live_server.app.app_context():
        s = db.session
        manager = s.scalar(select(User).where(User.username == "manager"))
        london = s.scalar(select(Clinic).where(Clinic.code == "LON"))
        store = s.scalar(select(Location).where(Location.clinic_id == london.id, Location.name == "Store room"))
        supplier_id = s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
        receipt = receiving.receive(s, actor=manager, scope=Scope.everything(), location_id=store.id, containers=2,
                                    now=utcnow(), gtin=demo_gtin(6), lot_number=f"DXW{live_server.backend[:2].upper()}",
                                    expiry=dt.date(2099, 12, 31), supplier_id=supplier_id)
        s.commit()
        return [c.label_code for c in receipt.containers]


def test_a_scan_into_why_this_dose_keeps_the_dose_waiting_and_says_it_was_not_used(page, live_server):
    vial, other = _daxxify_of_a_new_lot(live_server)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "WHY-DOSE")
    wedge(page, vial)
    page.click("button:has-text('Reconstitute')")  # the label's 1.2 mL
    expect(page.locator(".flash-ok")).to_contain_text("Reconstituted: 8.33 U per 0.1 mL.")
    expect(page.locator("#concentration")).to_have_text("8.33 U per 0.1 mL (83.33 U/mL)")
    page.check("input[name=area][value=glabella]")
    page.fill("#quantity", "50")
    page.select_option("#unit", "U")
    page.click("button:has-text('Record draw')")
    step = page.locator(".confirm-step[role=alert]")
    expect(step).to_contain_text("Confirm this dose")
    page.click("#confirm_reason")
    page.keyboard.type("touch-up", delay=90)
    dose_page = page.url
    page.wait_for_timeout(400)  # she takes up the scanner: a scan does not follow her last key at once

    wedge(page, other)
    page.wait_for_timeout(300)  # a scan sent would be on its way by now
    assert page.url == dose_page
    expect(page.locator(".container-panel")).to_have_attribute("data-label", vial)
    expect(step).to_contain_text("Confirm this dose")
    expect(page.locator("#confirm_reason")).to_have_value("touch-up")
    expect(page.locator("#quantity")).to_have_value("50")
    expect(page.locator("input[name=area][value=glabella]")).to_be_checked()
    kept_out = page.locator(".scan-kept-out")
    expect(kept_out).to_contain_text("not used: this dose waits for its reason")
    expect(kept_out).to_contain_text(other)
    screenshot(page, f"cart-scan-into-why-this-dose-{live_server.backend}", full_page=False)
    assert draws_of(live_server, treatment_id) == 0

    page.click("button:has-text('Confirm and record')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 50 U")
    expect(page.locator("table.draws")).to_contain_text("touch-up")
    assert draws_of(live_server, treatment_id) == 1
