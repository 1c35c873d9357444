"""The admin creates a nurse on the users page, the nurse signs in elsewhere, the admin deactivates her, and
her open page is signed out on its next click (the session ends on the server, not in her browser)."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import User
from tests.browser.conftest import answer, screenshot, sign_in

PASSWORD = "first-day-password-1"


def test_admin_creates_and_deactivates_a_user_whose_open_session_ends_on_its_next_click(
    page, browser, live_server
):
    username = f"nina-{live_server.backend}"
    sign_in(page, "admin")
    page.click("nav[aria-label=Main] summary:has-text('Admin')")
    page.click("nav a:has-text('Users')")
    expect(page.locator("h1")).to_have_text("Users")

    # A refusal keeps what was typed.
    page.fill("#new-username", username)
    page.fill("#new-display-name", "Nina Newcomer")
    page.select_option("#new-role", "nurse")
    page.check("label:has-text('LON ·') input")
    page.fill("#new-password", "short")
    page.click("button:has-text('Create user')")
    expect(page.locator(".flash-error")).to_contain_text("at least 10 characters")
    expect(page.locator("#new-username")).to_have_value(username)
    expect(page.locator("#new-display-name")).to_have_value("Nina Newcomer")
    expect(page.locator("label:has-text('LON ·') input")).to_be_checked()

    page.fill("#new-password", PASSWORD)
    page.click("button:has-text('Create user')")
    expect(page.locator(".flash-ok")).to_contain_text(f"{username} can sign in now")
    expect(page.locator("table.user-list")).to_contain_text("Nina Newcomer")

    # The new nurse signs in in a browser of her own and works at the cart.
    nurse_context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server.url)
    try:
        nurse = nurse_context.new_page()
        nurse.set_default_timeout(10_000)
        nurse.goto("/login")
        nurse.fill("#username", username)
        nurse.fill("#password", PASSWORD)
        nurse.click("button[type=submit]")
        expect(nurse.locator("nav[aria-label=Main]")).to_be_visible()
        expect(nurse.locator(".who")).to_contain_text("Nina Newcomer")

        # The admin deactivates her.
        page.click(f"table.user-list a:has-text('{username}')")
        page.click(f"button:has-text('Deactivate {username}')")
        asked = answer(page, "Confirm")  # it asks first
        expect(page.locator(".flash-ok")).to_contain_text("deactivated: signed out everywhere")
        assert asked == f"Deactivate {username}? Their sessions and API tokens end at once."
        expect(page.locator("h1 .tag")).to_have_text("deactivated")
        screenshot(page, f"admin-user-deactivated-{live_server.backend}")

        # Her page is still on screen; its next click lands on the sign-in page.
        nurse.click("nav[aria-label=Main] summary:has-text('Cart')")
        nurse.click("nav[aria-label=Main] a[href='/cart']")
        expect(nurse).to_have_url(re.compile(r"/login\?next=(%2F|/)cart$"))
        expect(nurse.locator("nav[aria-label=Main]")).to_have_count(0)
        # And she cannot sign in again.
        nurse.fill("#username", username)
        nurse.fill("#password", PASSWORD)
        nurse.click("button[type=submit]")
        expect(nurse.locator(".flash-error")).to_contain_text("Wrong username or password")
    finally:
        nurse_context.close()

    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None and not user.is_active and user.display_name == "Nina Newcomer"


def test_every_administration_page_fits_a_phone(browser, live_server):
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server.url)
    violations: list[str] = []
    try:
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        tab.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        sign_in(tab, "admin")
        with live_server.app.app_context():
            from inventory.models import Clinic, Product

            admin_id = db.session.scalar(select(User.id).where(User.username == "admin"))
            product_id = db.session.scalar(select(Product.id).order_by(Product.id).limit(1))
            clinic_id = db.session.scalar(select(Clinic.id).order_by(Clinic.id).limit(1))
        for path in ("/users", f"/users/{admin_id}", "/catalog", "/catalog/new", f"/catalog/{product_id}/edit",
                     "/locations", "/clinics", f"/clinics/{clinic_id}", "/account/password"):
            response = tab.goto(path)
            assert response is not None and response.status == 200, path
            width, inner = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= inner, f"{path} scrolls sideways at {inner} px: {width} px wide"
        screenshot(tab, f"admin-locations-phone-{live_server.backend}")
    finally:
        context.close()
    assert violations == [], violations
