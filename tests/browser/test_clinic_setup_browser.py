"""QA, in Chromium: the header reads a signed-in nurse's role whole at 1280 px (it was cut to "Nurse / injec…" after
a long name) and keeps name and role in sight on a phone; the Locations page ticks "temperature-sensitive" when a
fridge is chosen; the product form shows the label facts of the kind chosen."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Clinic, Role, User
from inventory.services import auth
from tests.browser.conftest import screenshot, sign_in

LONG_NAME = "Amélie Dubois-Laurent de la Fontaine"
PASSWORD = "long-name-password-1"
# Whether the element shows all of its content: nothing cut by its own box.
SHOWN_WHOLE = "(el) => el.scrollWidth <= el.clientWidth"
ROLE_RIGHT_EDGE = """(span) => {
  const range = document.createRange();
  range.selectNodeContents(span.lastChild);  // the text after the name: " · Nurse / injector"
  return {role: range.getBoundingClientRect().right, span: span.getBoundingClientRect().right,
          text: span.lastChild.textContent.trim()};
}"""


def _nurse_with_a_long_name(live_server) -> str:
    username = f"amelie-{live_server.backend}"
    with live_server.app.app_context():
        if db.session.scalar(select(User.id).where(User.username == username)) is None:
            london = db.session.scalars(select(Clinic).where(Clinic.code == "LON")).one()
            auth.create_user(db.session, live_server.app.extensions["password_hasher"], username=username,
                             password=PASSWORD, role=Role.NURSE, clinics=[london], display_name=LONG_NAME)
            db.session.commit()
    return username


def test_qa_repro_the_role_reads_whole_at_1280_px_after_a_long_name(page, live_server):
    username = _nurse_with_a_long_name(live_server)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav[aria-label=Main]")
    who = page.locator("header .who span")
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 800})
        measured = who.evaluate(ROLE_RIGHT_EDGE)
        assert measured["text"] == "· Nurse / injector"
        assert who.evaluate(SHOWN_WHOLE), f"the name and role are cut at {width} px"
        assert measured["role"] <= measured["span"] + 1, measured
    screenshot(page, f"vialog-header-long-name-1280-{live_server.backend}", full_page=False)
    # On a phone: the name (cut with an ellipsis if need be) over the role, beside Sign out, within the width.
    page.set_viewport_size({"width": 390, "height": 800})
    measured = who.evaluate(ROLE_RIGHT_EDGE)
    assert who.evaluate(SHOWN_WHOLE) and measured["role"] <= measured["span"] + 1, measured
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("header button:has-text('Sign out')")).to_be_in_viewport()
    screenshot(page, f"vialog-header-long-name-390-{live_server.backend}", full_page=False)


def test_choosing_a_fridge_ticks_temperature_sensitive_and_another_kind_takes_the_tick_back(page, live_server):
    sign_in(page, "admin")
    page.goto("/locations")
    box = page.locator("#new-location-temperature")
    expect(box).not_to_be_checked()
    page.select_option("#new-location-kind", "fridge")
    expect(box).to_be_checked()
    page.select_option("#new-location-kind", "storage")
    expect(box).not_to_be_checked()
    # The admin's own untick is a no, which the kind no longer changes.
    page.select_option("#new-location-kind", "fridge")
    box.uncheck()
    page.select_option("#new-location-kind", "room")
    page.select_option("#new-location-kind", "fridge")
    expect(box).not_to_be_checked()
    expect(page.locator("#new-location-temperature-chosen")).to_have_value("1")


def test_the_product_form_shows_the_facts_of_the_kind_chosen(page, live_server):
    sign_in(page, "admin")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/catalog/new")
    toxin, powder = page.locator("#p-toxin-facts"), page.locator("#p-powder-facts")
    filler, enzyme = page.locator("#p-filler-facts"), page.locator("#p-hyaluronidase-facts")
    expect(toxin).to_be_visible()  # a new product starts as a toxin
    expect(filler).to_be_hidden()
    expect(enzyme).to_be_hidden()
    page.select_option("#p-kind", "filler")
    expect(filler).to_be_visible()
    expect(toxin).to_be_hidden()
    page.select_option("#p-form", "gel")
    expect(powder).to_be_hidden()
    page.select_option("#p-kind", "hyaluronidase")
    page.select_option("#p-form", "powder")
    expect(enzyme).to_be_visible()
    expect(powder).to_be_visible()
    expect(filler).to_be_hidden()
    screenshot(page, f"vialog-product-hyaluronidase-1280-{live_server.backend}")
