"""A scan that lands in a note: on a kit's page it never puts the item in the kit (that scan form moves stock at
once), and on a page with no scan field at all (a treatment's checklist) it is kept out of the note, said so."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from inventory.extensions import db
from inventory.models import Container, Movement, Treatment
from tests.browser.conftest import screenshot, sign_in, wedge
from tests.browser.test_scanner import sealed_labels, start_treatment


def _movements_of(live_server, label: str) -> int:
    with live_server.app.app_context():
        return db.session.scalar(select(func.count(Movement.id)).join(Container, Container.id == Movement.container_id)
                                 .where(Container.label_code == label))


def test_a_label_scanned_into_a_kit_checks_notes_waits_and_moves_nothing(page, live_server):
    (vial,) = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 1)
    before = _movements_of(live_server, vial)
    sign_in(page, "nurse")
    page.goto("/kits")
    page.locator(".kit-card h2 a", has_text="Emergency kit (room 1)").click()
    expect(page.locator("h1")).to_contain_text("Emergency kit (room 1)")
    page.get_by_label("Seal intact", exact=True).check()
    page.fill("#notes", "all sealed")
    page.focus("#notes")

    wedge(page, vial)

    expect(page.locator(".scan-kept-out")).to_contain_text("A scan went into Notes and was kept out of it")
    expect(page.locator(".scan-kept-out")).to_contain_text(
        "The code waits in the field below: press “Put in the kit” to use it, or clear it.")
    expect(page.locator("#code")).to_have_value(vial)  # waiting in "put in the kit", not sent
    expect(page.locator("#notes")).to_have_value("all sealed")  # the check as the nurse left it
    expect(page.get_by_label("Seal intact", exact=True)).to_be_checked()
    page.wait_for_timeout(300)  # a submit would have left the page by now
    assert _movements_of(live_server, vial) == before
    screenshot(page, f"kit_scan_in_notes_{live_server.backend}")


def test_a_label_scanned_into_a_checklists_notes_is_kept_out_of_them(page, live_server):
    (vial,) = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 1)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "CHK-NOTE")
    page.goto(f"/cart/treatments/{treatment_id}/checklist")
    page.fill("#notes", "none")
    page.focus("#notes")

    wedge(page, vial)

    expect(page.locator(".scan-kept-out")).to_contain_text(
        "A scan went into Notes and was kept out of it: Notes is as it was. Nothing was scanned on this page.")
    expect(page.locator("#notes")).to_have_value("none")
    with page.expect_navigation():
        page.click("button:has-text('Save checklist')")
    with live_server.app.app_context():
        assert db.session.get(Treatment, treatment_id).checklist["answers"]["notes"] == "none"


def test_words_typed_fast_into_an_adverse_events_description_are_kept(page, live_server):
    """QA: a fast typist (30 ms a key, or a text expander) had "Blanching on left cheek" wiped as a scan. Words
    hold spaces and no code does: the field keeps every key, and nothing is said of a scan."""
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "AE-FAST")
    page.goto(f"/cart/treatments/{treatment_id}/adverse-event")
    field = page.get_by_label("What you see")
    field.click()
    words = "Blanching on left cheek after filler"
    page.keyboard.type(words, delay=25)
    expect(field).to_have_value(words)
    expect(page.locator(".scan-kept-out")).to_have_count(0)
    field.fill("")
    (vial,) = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 1)
    wedge(page, vial)  # a label, no space in it, is still kept out of the words
    expect(field).to_have_value("")
    expect(page.locator(".scan-kept-out")).to_contain_text("Nothing was scanned on this page.")


def test_a_notes_last_word_typed_fast_after_a_pause_is_kept(page, live_server):
    """A fast typist pauses, then types the note's last word at a scanner's pace, and nothing after it (no space,
    no Enter): the guard caught it as a scan and dropped it once the keys went quiet ("Blanching on left cheek
    after f"). A scanner ends its code with Enter, and "iller" reads as no code: the word goes back into the note.
    The page's clock is moved on by hand, so the gaps are exactly these whatever the machine's load."""
    from tests.browser.test_cart_scanner_hiccup import keys, on_the_page_clock

    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "AE-LAST-WORD")
    page.goto(f"/cart/treatments/{treatment_id}/adverse-event")
    field = page.get_by_label("What you see")
    field.click()
    on_the_page_clock(page)
    try:
        keys(page, "Blanching after f", 120)  # a person's pace
        page.clock.run_for(300)  # a pause, longer than a run of keys holds together
        keys(page, "iller", 5)  # then the last word at a scanner's pace, and nothing after it
        page.clock.run_for(1000)  # longer than a caught scan waits for its Enter
    finally:
        page.clock.resume()
    expect(field).to_have_value("Blanching after filler")
    expect(page.locator(".scan-kept-out")).to_have_count(0)
