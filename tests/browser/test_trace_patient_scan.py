"""The trace page has two fields a scanner may type into: the lot's (the page's scan field) and the patient's. A
patient's card scanned into the patient's field finds the patient; it is no stray scan sent to the lot search."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in, wedge


def test_a_patients_card_scanned_into_the_patient_field_finds_the_patient(page, live_server):
    sign_in(page, "safety")
    page.goto("/trace")
    page.click("#patient")
    with page.expect_navigation():
        wedge(page, "P-1002")
    expect(page).to_have_url(re.compile(r"/trace\?patient=P-1002$"))
    expect(page.locator("h2", has_text="Patients with reference")).to_contain_text("P-1002")
    expect(page.locator("body")).not_to_contain_text("No lot P-1002 on file")
