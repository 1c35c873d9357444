"""Browser tests: Playwright for Python driving Debian's Chromium against a live Vialog.

The live server runs in a thread on its own scratch database (SQLite file or
PostgreSQL), loaded with the demo data and committed, exactly as a clinic would
have it after ``vialog demo``. Without /usr/bin/chromium these tests are skipped,
unless VIALOG_REQUIRE_BROWSER=1 (CI), where that is an error.

Under pytest-xdist each worker runs its own Chromium and its own live servers (port 0,
scratch databases of its own); screenshots go to test-artifacts/ under names that one
test alone writes (its own name, or a name with the backend that only it uses).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Error, Route, expect
from werkzeug.serving import make_server

from inventory.extensions import db
from inventory import demo
from tests.conftest import _postgres_database, make_test_app

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("VIALOG_REQUIRE_BROWSER") == "1"
# Chromium flags that keep it quiet on a machine with no outside network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
GS = "\x1d"  # the GS1 group separator

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class LiveServer:
    url: str
    app: Flask
    backend: str


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('live') / 'live.db'}"])
    else:
        urls = _postgres_database()
    url = next(urls)
    app = make_test_app(url, tmp_path_factory.mktemp("live-instance"))
    app.config["WTF_CSRF_SSL_STRICT"] = False
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load(db.session, app.extensions["password_hasher"])
        _more_of_the_lots_the_cart_tests_open(db.session)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, request.param)
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()
        for _ in urls:  # finish the generator: drops the PostgreSQL database
            pass


# The demo's few syringes and vials of these lots are enough to show the app, not for every cart test of a worker (they
# share one live server, and each opens a container of its own): more of the same lots, where the demo keeps them.
_TOPPED_UP = [("Juvederm Volbella XC 0.55 mL", "VB19A44", 30), ("Juvederm Voluma XC 1.0 mL", "VM88B21", 12),
              ("Dysport 300 U", "DY2291", 12), ("Restylane Kysse 1.0 mL", "RK5512", 6)]


def _more_of_the_lots_the_cart_tests_open(session) -> None:
    from sqlalchemy import select

    from inventory.models import Container, Lot, Product, User, utcnow
    from inventory.receiving import service as receiving
    from inventory.services.permissions import Scope

    manager = session.scalar(select(User).where(User.username == "manager"))
    for product_name, lot_number, count in _TOPPED_UP:
        lot = session.scalar(select(Lot).join(Product).where(Product.name == product_name, Lot.number == lot_number))
        kept = session.scalar(select(Container).where(Container.lot_id == lot.id).order_by(Container.id).limit(1))
        receiving.receive(session, actor=manager, scope=Scope.everything(), location_id=kept.location_id,
                          containers=count, now=utcnow(), gtin=lot.product.gtins[0].gtin, lot_number=lot_number,
                          expiry=lot.expiry, supplier_id=kept.receipt.supplier_id)


@pytest.fixture
def page(browser, live_server: LiveServer, request: pytest.FixtureRequest):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    # The pages must run under the strict Content-Security-Policy: any violation fails the test.
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    assert violations == [], violations
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        screenshot(page, request.node.name)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    """test-artifacts/<name>.png. The name must be the test's own (e.g. end in the backend of a test that runs
    once per backend): workers run tests in parallel, and two tests of one name would overwrite each other."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _wait_for_a_focused_field(page) -> None:
    """A scanner types into whatever has the focus: after a page load, wait until the page has put it in a
    field (autofocus and vialog.js do; on a busy machine that can come after the page is on screen)."""
    # A locator, not wait_for_function: the page's CSP (script-src 'self') forbids the eval that polls it.
    expect(page.locator(":focus")).to_have_count(1)


def scan(page, code: str) -> None:
    """A scanner that delivers the whole code at once into the focused field, then Enter."""
    _wait_for_a_focused_field(page)
    page.keyboard.insert_text(code)
    page.keyboard.press("Enter")


def wedge(page, code: str) -> None:
    """A keyboard-wedge scanner: one key per character at machine speed, then Enter.

    The page tells a scanner from a person by keys under 40 ms apart (vialog.js). Playwright sends one key at a
    time, and on a busy machine (parallel workers, other jobs) two keys can land further apart than that: so the
    page's clock stands still while the keys go in, as they would for a scanner, and runs on after the Enter.

    The GS separator has no key: a scanner types it as the control character, which reaches the page as
    text (insert_text); a scanner set to type a substitute would send `|` instead.
    """
    _wait_for_a_focused_field(page)
    page.clock.install()  # repeatable; timers keep real time until paused
    _pause_page_clock(page)
    try:
        for part in re.split(f"({GS})", code):
            if part == GS:
                page.keyboard.insert_text(GS)
            elif part:
                page.keyboard.type(part)
        page.keyboard.press("Enter")
    finally:
        page.clock.resume()


def _pause_page_clock(page) -> None:
    """Stop the page's clock, and make sure it stopped: a pause sent while a navigation settles can miss the
    document the keys will go to, and then a busy machine's gaps between keys would read as a person typing.

    It stops where it is: pause_at takes seconds (a number in milliseconds, the page's Date.now(), would set
    the page 1000 times as far from 1970, where every beyond-use countdown reads "past beyond-use"). On a busy
    machine the page's clock can run past that moment before the pause reaches it: the pause is refused, but
    the clock stands still, and the next attempt pauses it where it stopped. Each retry waits for the document
    to settle and aims a little further ahead (never more than a fifth of a second: no key has been typed yet, so
    the timers a jump fires find nothing to judge)."""
    for margin_ms in (1, 1, 5, 20, 50, 100, 200, 200, 200, 200):
        page.wait_for_load_state()
        try:
            page.clock.pause_at((page.evaluate("Date.now()") + margin_ms) / 1000)
        except Error as error:
            if "Cannot fast-forward to the past" not in error.message:
                raise
            continue
        before = page.evaluate("performance.now()")
        page.wait_for_timeout(60)  # Playwright's own timer, not the page's
        if page.evaluate("performance.now()") == before:
            return
    raise AssertionError("the page's clock did not stop")


# The page's own question before a step that cannot be undone (vialog.js asks it for a form or button marked
# data-confirm, in a <dialog> of the page: the browser's confirm box took a scanner's Enter for OK).
CONFIRM_DIALOG = "dialog.confirm-dialog"
_RECORD_QUESTIONS = """
if (!window.vialogRecordsQuestions) {
  window.vialogRecordsQuestions = true;  // once per document: the init script and an evaluate may both run it
  new MutationObserver((changes) => changes.forEach(({ target }) => {
    if (target instanceof HTMLDialogElement && target.matches("dialog.confirm-dialog") && target.open)
      window.vialogAsked(target.querySelector(".confirm-question").textContent);
  })).observe(document, { attributes: true, attributeFilter: ["open"], subtree: true });
}
"""


def answer(page, button: str) -> str:
    """Answers the page's question with its button ("Confirm" or "Cancel"), clicked as a person does; returns the
    question it asked."""
    dialog = page.locator(f"{CONFIRM_DIALOG}[open]")
    expect(dialog).to_be_visible()
    question = dialog.locator(".confirm-question").inner_text()
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(f"{CONFIRM_DIALOG}[open]")).to_have_count(0)
    return question


def questions_asked(page) -> list[str]:
    """Every question the page asks from now on, on this page and the pages after it (the list fills as they are
    asked): for a test that something asked nothing."""
    asked: list[str] = []
    page.expose_binding("vialogAsked", lambda _source, question: asked.append(question))
    page.add_init_script(_RECORD_QUESTIONS)
    for _attempt in range(5):
        # A scan just made may still be loading its page: the script goes into the document that stays.
        page.wait_for_load_state()
        try:
            page.evaluate(_RECORD_QUESTIONS)
            return asked
        except Error as error:
            if "Execution context was destroyed" not in error.message:
                raise
    raise AssertionError("the page kept navigating: its questions could not be recorded")


def start_cart_treatment(page, ref: str, name: str) -> None:
    """On the cart page: a new patient's treatment at London's treatment cart."""
    page.fill("#external_ref", ref)
    page.fill("#name", name)
    page.select_option("#location_id", label="LON · Treatment cart")
    page.click("button:has-text('Start treatment')")
    expect(page.locator(".patient-bar")).to_contain_text(name)
    expect(page.locator("#scan")).to_be_focused()  # the next scan goes there, not to the page


def open_still_loading(page, path: str) -> Callable[[], None]:
    """The page on screen while its end is still loading, as from a busy server: a script at the end of its
    body is held back, so the page has not finished loading (no DOMContentLoaded) until release() is called."""
    held: list[Route] = []
    page.route("**/held-back.js", lambda route: held.append(route))

    def with_a_held_back_script(route: Route) -> None:
        html = route.fetch().text().replace("</body>", '<script src="/held-back.js"></script></body>')
        route.fulfill(body=html, headers={"content-type": "text/html; charset=utf-8"})

    this_page = re.compile(re.escape(path) + "$")
    page.route(this_page, with_a_held_back_script)
    page.goto(path, wait_until="commit")
    expect(page.locator("main")).to_be_attached()

    def release() -> None:
        page.unroute(this_page)
        for route in held:
            route.fulfill(body="", headers={"content-type": "text/javascript"})

    return release


def sign_in(page, username: str) -> None:
    password = next(p for u, p, *_ in demo.DEMO_USERS if u == username)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("nav[aria-label=Main]")
