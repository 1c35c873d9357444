"""QA, on a slow network: a label scanned while the page is still saving the one before was dropped without a word
(its Enter pressed a button already disabled), and a kit held an item the ledger placed elsewhere. It is kept
now: the page says so at once, and when the next page has loaded the code waits in its scan field with a note
("press Enter to add ..."); nothing is sent until the nurse presses Enter. Double-submit protection of buttons
that record is unchanged (tests/browser/test_cart_send_once.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.counterfeit.models import Supplier
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.extensions import db
from inventory.kits import service as kit_service
from inventory.kits.models import Kit
from inventory.models import Clinic, Container, Location, Product, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_scanner import sealed_labels

KIT = "Emergency kit (room 1)"


def _received_into_londons_store_room(live_server, lot: str, count: int) -> list[str]:
    """Syringes of a lot of this test's own: what moves is nobody else's stock."""
    with live_server.app.app_context():
        s = db.session
        manager = s.scalar(select(User).where(User.username == "manager"))
        store = s.scalar(select(Location).join(Clinic).where(Clinic.code == "LON", Location.name == "Store room"))
        product = s.scalar(select(Product).where(Product.name == "Syringe 1 mL Luer-lock"))
        receipt = receiving.receive(s, actor=manager, scope=Scope.everything(), location_id=store.id, containers=count,
                                    now=utcnow(), gtin=product.gtins[0].gtin, lot_number=lot,
                                    expiry=dt.date(2099, 12, 31),
                                    supplier_id=s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER)))
        s.commit()
        return [c.label_code for c in receipt.containers]


def _where(live_server, label: str) -> str:
    with live_server.app.app_context():
        return db.session.scalar(select(Container).where(Container.label_code == label)).location.name


class SlowPosts:
    """A slow network: a form sent to ``path`` gets its answer only once release() is called, the page on screen
    meanwhile, saving. The server holds the answer (Playwright waits for a pending navigation before looking at the
    page, so the page is only looked at again once it has its answer); the keys of a scanner go in meanwhile."""

    def __init__(self, live_server, path: str) -> None:
        self.app, self.path, self.sent, self.answer = live_server.app, path, 0, threading.Event()
        self.inner = self.app.wsgi_app
        self.app.wsgi_app = self._slow

    def _slow(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == self.path and not self.answer.is_set():
            self.sent += 1
            self.answer.wait(20)
        return self.inner(environ, start_response)

    def wait_until_sent(self) -> None:
        deadline = time.monotonic() + 10
        while not self.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.sent == 1

    def release(self) -> None:
        assert self.sent == 1, f"{self.sent} posts reached the server while saving; one was meant to"
        self.answer.set()
        self.app.wsgi_app = self.inner


def scanner(page, code: str) -> None:
    """A scanner that delivers a code and Enter into the focused field, while the page is saving (no wait)."""
    page.keyboard.insert_text(code)
    page.keyboard.press("Enter")


def test_a_label_scanned_into_a_kit_while_the_last_is_saving_waits_for_enter_on_the_next_page(page, live_server):
    first, second = _received_into_londons_store_room(live_server, f"SVK-{live_server.backend[:2]}", 2)
    with live_server.app.app_context():
        kit_id = db.session.scalar(select(Kit.id).where(Kit.name == KIT))
    try:
        sign_in(page, "nurse")
        page.goto(f"/kits/{kit_id}")
        expect(page.locator("#code")).to_be_focused()
        slow = SlowPosts(live_server, f"/kits/{kit_id}/contents")
        try:
            scanner(page, first)  # on its way, no answer yet
            slow.wait_until_sent()
            scanner(page, second)  # a second later, the next vial
            page.wait_for_timeout(300)
        finally:
            slow.release()  # only the first reached the server
        expect(page.locator(".flash-ok")).to_contain_text(f"({first})")
        expect(page.locator(".scan-while-saving")).to_have_text(
            f"Scanned while the last one was saving: press Enter to add {second}, or clear the field to leave it out.")
        expect(page.locator("#code")).to_have_value(second)
        expect(page.locator("#code")).to_be_focused()
        screenshot(page, f"kit_scan_while_saving_{live_server.backend}")
        page.wait_for_timeout(300)  # were it sent by itself, it would be on its way by now
        assert (_where(live_server, first), _where(live_server, second)) == (KIT, "Store room")

        page.keyboard.press("Enter")  # the nurse confirms
        expect(page.locator(".flash-ok")).to_contain_text(f"({second})")
        assert _where(live_server, second) == KIT
        expect(page.locator(".scan-while-saving")).to_have_count(0)  # nothing waits any more
        expect(page.locator("#code")).to_have_value("")
    finally:  # the live server is shared by the session's browser tests: the kit holds what it held before
        with live_server.app.app_context():
            s = db.session
            nurse = s.scalar(select(User).where(User.username == "nurse"))
            store = s.scalar(select(Location).join(Clinic).where(Clinic.code == "LON", Location.name == "Store room"))
            for label in (first, second):
                if s.scalar(select(Container).where(Container.label_code == label)).location.name == KIT:
                    kit_service.remove_from_kit(s, actor=nurse, scope=Scope.everything(), kit_id=kit_id,
                                                container_ref=label, to_location_id=store.id, now=utcnow())
            s.commit()


def test_labels_scanned_onto_a_transfer_list_while_saving_come_back_in_turn(page, live_server):
    first, second, third = _received_into_londons_store_room(live_server, f"SVT-{live_server.backend[:2]}", 3)
    sign_in(page, "manager")
    page.goto("/transfers/new")
    expect(page.locator("#code")).to_be_focused()
    slow = SlowPosts(live_server, "/transfers/new")
    try:
        scanner(page, first)
        slow.wait_until_sent()
        scanner(page, second)
        scanner(page, third)
        page.wait_for_timeout(300)
    finally:
        slow.release()
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 1")
    expect(page.locator(".scan-while-saving")).to_have_text(
        f"Scanned while the last one was saving: press Enter to add {second}, or clear the field to leave it out."
        f" Scanned after it, waiting their turn: {third}.")
    expect(page.locator("#code")).to_have_value(second)

    page.keyboard.press("Enter")
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 2")
    expect(page.locator("#code")).to_have_value(third)
    expect(page.locator(".scan-while-saving")).to_have_text(
        f"Scanned while the last one was saving: press Enter to add {third}, or clear the field to leave it out.")

    page.keyboard.press("Enter")
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 3")
    expect(page.locator("table.transfer-items")).to_contain_text(first)
    expect(page.locator("table.transfer-items")).to_contain_text(second)
    expect(page.locator("table.transfer-items")).to_contain_text(third)
    expect(page.locator(".scan-while-saving")).to_have_count(0)


def test_a_code_put_back_and_cleared_is_left_out_and_does_not_come_back(page, live_server):
    first, second = _received_into_londons_store_room(live_server, f"SVC-{live_server.backend[:2]}", 2)
    sign_in(page, "manager")
    page.goto("/transfers/new")
    expect(page.locator("#code")).to_be_focused()
    slow = SlowPosts(live_server, "/transfers/new")
    try:
        scanner(page, first)
        slow.wait_until_sent()
        scanner(page, second)
        page.wait_for_timeout(300)
    finally:
        slow.release()
    expect(page.locator("#code")).to_have_value(second)

    page.locator("#code").press("Backspace")  # the code is selected: one key clears it
    expect(page.locator(".scan-while-saving")).to_have_text(f"Left out: {second} (scanned while the last one was saving).")
    page.reload()
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 1")
    expect(page.locator("#code")).to_have_value("")
    expect(page.locator(".scan-while-saving")).to_have_count(0)


# Stands in for a network that never answers: the page's own submit handling runs, then this listener keeps the
# browser from leaving (tests/browser/test_cart_send_once.py), so the page can be read while it is saving.
_HOLD_SUBMITS = """() => {
  window.sent = 0;
  document.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) window.sent += 1;
    event.preventDefault();
  });
}"""


def test_the_page_says_at_once_that_a_scan_made_while_saving_is_kept(page, live_server):
    first, second = _received_into_londons_store_room(live_server, f"SVN-{live_server.backend[:2]}", 2)
    with live_server.app.app_context():
        kit_id = db.session.scalar(select(Kit.id).where(Kit.name == KIT))
    sign_in(page, "nurse")
    page.goto(f"/kits/{kit_id}")
    expect(page.locator("#code")).to_be_focused()
    page.wait_for_load_state("load")  # the page's script listens first
    page.evaluate(_HOLD_SUBMITS)

    scanner(page, first)
    expect(page.locator("button:has-text('Put in the kit')")).to_be_disabled()
    scanner(page, second)
    expect(page.locator(".scan-while-saving")).to_have_text(
        f"Scanned while the last one was saving: {second}. It will wait in the scan field once the page has loaded: "
        "press Enter then to add it.")
    expect(page.locator("#code")).to_have_value(first)  # what is saving, not both codes run together
    scanner(page, "")  # a scanner's second Enter keeps nothing more
    assert page.evaluate("window.sent") == 1
    assert page.evaluate(f"sessionStorage.getItem('vialog.scanned-while-saving:/kits/{kit_id}/contents')") \
        == f'["{second}"]'
    page.evaluate("sessionStorage.clear()")  # this page never saves: nothing is left waiting for another test


def test_on_a_count_sheet_asking_how_many_the_label_waits_until_the_number_is_given(page, live_server):
    """The box before it needs its number first: the label is not put where Add would send it in place of the
    box; the sheet says it waits, and once the box's line is recorded the label is in the scan field."""
    (label,) = sealed_labels(live_server, "Botox Cosmetic 100 U", "DEMOBTX02", 1, at="Medicines fridge")
    sign_in(page, "manager")
    page.goto("/counts")
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.click("button:has-text('Start')")
    expect(page.locator("#code")).to_be_focused()
    action = page.get_attribute("form.scan-form", "action")
    slow = SlowPosts(live_server, action)
    try:
        scanner(page, f"(01){demo_gtin(1)}(10)DEMOBTX01")  # no expiry printed: none contradicts the lot
        slow.wait_until_sent()
        scanner(page, label)
        page.wait_for_timeout(300)
    finally:
        slow.release()
    expect(page.locator("#containers")).to_be_focused()  # the box's number is asked first
    expect(page.locator("#code")).to_have_value("")
    expect(page.locator(".scan-while-saving")).to_have_text(
        f"Scanned while the last one was saving, not added yet: {label}. Finish what is asked below: it comes back "
        "into the scan field then.")

    page.keyboard.type("6", delay=90)
    page.keyboard.press("Enter")
    expect(page.locator(".flash-ok")).to_contain_text("Counted Botox Cosmetic 100 U (lot DEMOBTX01, sealed)")
    expect(page.locator("#code")).to_have_value(label)
    expect(page.locator(".scan-while-saving")).to_contain_text(f"press Enter to add {label}")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-ok")).to_contain_text(f"Counted Botox Cosmetic 100 U ({label})")
    expect(page.locator(".scan-while-saving")).to_have_count(0)
