"""The emergency-kit board a safety lead reads at a glance, and a kit check by a nurse."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in


def _background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "el => getComputedStyle(el).borderLeftColor || getComputedStyle(el).borderColor")


def test_the_board_shows_each_kit_in_its_colour_with_reasons(page, live_server):
    sign_in(page, "safety")
    page.goto("/kits")
    # The demo holds one kit of each state (London room 1 ready, room 2 short, New York expiring soon).
    not_ready = page.locator(".kit-card.kit-not_ready")
    expect(not_ready).to_have_count(1)
    expect(not_ready).to_contain_text("Warm compress: 1 each of 2 each")
    expect(page.locator(".kit-card.kit-expiring_soon")).to_contain_text("expires in")
    expect(page.locator(".kit-card.kit-ready")).to_contain_text("Everything required is inside")
    # Not-ready kits come first: the one that needs attention is read first.
    expect(page.locator(".kit-card").first).to_have_class("kit-card kit-not_ready")
    colours = {state: _background(page, f".kit-card.kit-{state}") for state in ("ready", "expiring_soon", "not_ready")}
    assert len(set(colours.values())) == 3, colours  # three different colours, not one style
    screenshot(page, f"kits-{live_server.backend}")


def test_a_nurse_records_a_kit_check_from_the_board(page, live_server):
    sign_in(page, "nurse")
    page.goto("/kits")
    page.locator(".kit-card.kit-ready h2 a").click()
    expect(page.locator("h1")).to_contain_text("Emergency kit (room 1)")
    page.get_by_label("Seal intact", exact=True).check()
    page.locator("button", has_text="Record check").click()
    expect(page.locator(".flash-ok")).to_contain_text("Check recorded: ready")
