"""A safety lead traces a scanned lot, sees who received it and opens a recall; the cart then refuses it.

The live server is shared by every browser test of a session, so this test recalls a
Botox lot of its own (received and given here through the services) rather than the
demo's DEMOBTX01, which the cart test draws from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.counterfeit.models import Supplier
from inventory.models import Clinic, Location, User, utcnow
from inventory.cart import service as cart
from inventory.receiving import service as receiving
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.services.permissions import Scope
from tests.browser.conftest import GS, scan, screenshot, sign_in, start_cart_treatment

BOTOX_100 = demo_gtin(1)
LOT = "RCL26A1"
EXPIRY = dt.date(2028, 1, 31)


def _give_a_dose_of_a_new_lot(live_server) -> None:
    """London receives three vials of the lot; a nurse gives Robin Hale 4 U from one of them."""
    with live_server.app.app_context():
        s = db.session
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(["manager", "nurse"])))}
        london = s.scalar(select(Clinic).where(Clinic.code == "LON"))
        place = {loc.name: loc for loc in s.scalars(select(Location).where(Location.clinic_id == london.id))}
        now, everywhere = utcnow(), Scope.everything()
        supplier_id = s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))  # the demo requires one
        receipt = receiving.receive(s, actor=users["manager"], scope=everywhere,
                                    location_id=place["Medicines fridge"].id, containers=3, now=now,
                                    gtin=BOTOX_100, lot_number=LOT, expiry=EXPIRY, supplier_id=supplier_id)
        patient = cart.find_or_create_patient(s, scope=everywhere, clinic_id=london.id,
                                              external_ref=f"RH-{live_server.backend}", name="Robin Hale")
        treatment = cart.start_treatment(s, actor=users["nurse"], scope=everywhere, patient_id=patient.id,
                                         location_id=place["Treatment room 1"].id, now=now)
        vial = cart.reconstitute(s, actor=users["nurse"], scope=everywhere, container_id=receipt.containers[0].id,
                                 diluent_ml=Decimal("2.5"), now=now)
        cart.draw(s, actor=users["nurse"], scope=everywhere, treatment_id=treatment.id, container_id=vial.id,
                  quantity=Decimal("4"), unit="U", area="glabella", now=now)
        cart.close_treatment(s, actor=users["nurse"], scope=everywhere, treatment_id=treatment.id, now=now)
        db.session.commit()


def test_safety_lead_traces_a_scanned_lot_opens_a_recall_and_the_cart_refuses_it(page, browser, live_server):
    _give_a_dose_of_a_new_lot(live_server)
    box = f"]d201{BOTOX_100}17{EXPIRY.strftime('%y%m%d')}10{LOT}{GS}21PACK0001"

    # The safety lead scans the box on the trace page: who received it, and where the rest is.
    sign_in(page, "safety")
    page.click("nav[aria-label=Main] summary:has-text('Safety')")  # the safety menu
    page.click("nav[aria-label=Main] >> text=Trace")
    expect(page.locator("#q")).to_be_focused()
    scan(page, box)
    lot = page.locator(".trace-lot")
    expect(lot).to_have_count(1)
    expect(lot.locator("h2")).to_contain_text(f"Botox Cosmetic 100 U · lot {LOT}")
    expect(lot.locator(".trace-patient-count")).to_have_text("1")
    expect(lot.locator("table.trace-doses")).to_contain_text("Robin Hale")
    expect(lot.locator("table.trace-doses")).to_contain_text("4 U (0.1 mL)")
    expect(lot.locator("table.trace-containers tbody tr")).to_have_count(3)
    expect(lot.locator(".trace-clinic h3")).to_contain_text("Vialog Demo Clinic London")
    screenshot(page, f"recall-trace-{live_server.backend}")

    # ... and opens a class I recall from there.
    page.click("summary:has-text('Open a recall')")
    page.select_option(f"#class-{lot.get_attribute('data-lot-id')}", "I")
    page.select_option("select[name=source]", "regulator")
    page.fill("textarea[name=reason]:visible", "MHRA alert: counterfeit vials carry this lot number")
    page.click("button:has-text('Open recall')")
    expect(page.locator(".flash-ok")).to_contain_text("the lots are recalled at every clinic")
    expect(page.locator("h1")).to_contain_text("Recall case")
    expect(page.locator("table.recall-patients")).to_contain_text("Robin Hale")
    expect(page.locator("table.recall-patients .recall-status")).to_have_text("Pending")
    expect(page.locator("table.recall-containers tbody tr")).to_have_count(2)  # the used vial was wasted
    case_path = urlsplit(page.url).path
    screenshot(page, f"recall-case-{live_server.backend}")

    page.click("nav[aria-label=Main] summary:has-text('Safety')")
    page.click("nav[aria-label=Main] >> text=Recalls")
    card = page.locator(".recall-card", has_text=LOT)
    expect(card).to_contain_text("Patients done 0/1")
    expect(card.locator("progress")).to_have_count(2)

    # Readable on a phone: nothing scrolls sideways.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    small = phone.new_page()
    violations: list[str] = []
    small.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    sign_in(small, "safety")
    for path in (case_path, f"/trace?q={LOT.lower()}", "/recalls"):
        small.goto(path)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"horizontal scroll at phone width on {path}: {width}px"
        screenshot(small, f"recall-phone-{path.strip('/').split('?')[0].replace('/', '-')}-{live_server.backend}")
    phone.close()
    assert violations == []

    # Sign out; the nurse's next scan of that lot at the cart is refused, in words.
    page.click("button:has-text('Sign out')")
    sign_in(page, "nurse")
    page.goto("/cart")
    start_cart_treatment(page, f"RB-{live_server.backend}", "Sam Doe")
    expect(page.locator("#scan")).to_be_focused()
    scan(page, box)
    refusal = page.locator(".refusal[role=alert]")
    expect(refusal).to_have_attribute("data-code", "lot_recalled")
    expect(refusal).to_contain_text(f"Lot {LOT} of Botox Cosmetic 100 U is recalled: do not use.")
    expect(page.locator("button:has-text('Record draw')")).to_have_count(0)
    expect(page.locator("button:has-text('Reconstitute')")).to_have_count(0)
