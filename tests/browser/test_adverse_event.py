"""An adverse event recorded from the cart in a few keystrokes, then the rescue hyaluronidase linked to it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import scan, screenshot, sign_in
from tests.browser.test_scanner import sealed_labels, start_treatment


def test_a_nurse_records_an_occlusion_from_the_cart_and_links_the_rescue_to_it(page, live_server):
    (syringe,) = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 1)
    (hylenex,) = sealed_labels(live_server, "Hylenex recombinant 150 USP U/mL", "DEMOHYL02", 1, at="Medicines fridge")
    sign_in(page, "nurse")
    start_treatment(page, live_server, "AE-OCC")

    scan(page, syringe)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)
    page.check("input[name=area][value=chin]")
    page.fill("#quantity", "0.5")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.5 mL into chin.")

    # Blanching at the chin: one click opens the short form, the syringe is already linked.
    page.click("#record-adverse-event")
    expect(page.locator("h1")).to_have_text("Record an adverse event")
    expect(page.locator("input[name=container_ids]")).to_be_checked()
    page.check("input[name=kind][value=vascular_occlusion]")
    page.check("input[name=severity][value=severe]")
    page.fill("#description", "Blanching and livedo at the chin, pain out of proportion")
    page.click("button:has-text('Record adverse event')")
    expect(page.locator(".flash-ok")).to_contain_text("Adverse event recorded and linked to 1 container.")
    expect(page.locator("table.linked")).to_contain_text("VM88B21")
    expect(page.locator("#report-text")).to_contain_text("Product 1 lot: VM88B21")

    # Back at the cart, the rescue: the hyaluronidase draw offers the open event, already chosen.
    page.click("dl.facts a")  # the event's treatment
    scan(page, hylenex)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", hylenex)
    expect(page.locator("#adverse_event_id option:checked")).to_contain_text("Vascular occlusion")
    page.check("input[name=area][value=chin]")
    page.fill("#quantity", "150")
    page.select_option("#emergency", "emergency")
    page.click("button:has-text('Record draw')")
    # The dose emptied the vial: recorded, and said so without an alarm.
    expect(page.locator(".flash-ok").first).to_contain_text("Recorded 150 USP U")
    expect(page.locator(".flash-ok").last).to_contain_text(f"{hylenex} (Hylenex recombinant 150 USP U/mL) is now empty")
    page.click(".adverse-events-here a:has-text('Vascular occlusion')")
    expect(page.locator("table.rescues")).to_contain_text(hylenex)
    expect(page.locator("table.rescues")).to_contain_text("150 USP U")

    # A phone at the cart: nothing wider than the screen. Measured once the page has loaded: the link's page is
    # in the DOM before its stylesheet applies, and an unstyled table is as wide as its text.
    page.wait_for_load_state("load")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, f"adverse_event_rescue_{live_server.backend}")


def test_the_safety_lead_records_an_excursion_and_releases_a_hold_on_a_phone(page, live_server):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from inventory.cold_chain import service as cold_chain
    from inventory.extensions import db
    from inventory.models import User, utcnow
    from inventory.services.permissions import Scope

    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, "safety")
    page.goto("/cold-chain")
    london = utcnow().astimezone(ZoneInfo("Europe/London"))
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.fill("#started_at", (london - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    # Until a minute from now: the demo stock went into the fridge when the live server started.
    page.fill("#ended_at", (london + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#min_c", "9")
    page.fill("#max_c", "13.5")
    try:
        page.click("button:has-text('Record and hold')")
        expect(page.locator(".flash-ok")).to_contain_text("containers on hold")
        group = page.locator("table.holds tbody.hold-group").first
        label = group.locator("tr[data-label]").first.get_attribute("data-label")
        group.locator("input[name=reason]").fill("Manufacturer: stable up to 25 °C for 72 h")
        group.locator("button:has-text('Release all')").click()
        expect(page.locator(".flash-ok")).to_contain_text("may be used again")
        expect(page.locator(".flash-ok")).to_contain_text(label)
        expect(page.locator(f"table.holds tr[data-label='{label}']")).to_have_count(0)
        page.wait_for_load_state("load")  # styled, as above
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, f"cold_chain_{live_server.backend}")
    finally:  # the live server is shared by the session's browser tests: leave its fridge usable
        with live_server.app.app_context():
            safety = db.session.scalar(select(User).where(User.username == "safety"))
            for hold in cold_chain.open_holds(db.session, scope=Scope.everything()):
                cold_chain.release_hold(db.session, actor=safety, scope=Scope.everything(),
                                        container_id=hold.container.id, reason="test clean-up", now=utcnow())
            db.session.commit()
