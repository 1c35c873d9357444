"""A recall case's container line the ledger shows wasted, on a desktop screen (1200-1440 px) and a phone: the "Destroyed"
choice sits beside "Done", the hint that says why on a line of its own under them, and every line's form fits
its column (no Save button clipped in the scroll box)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from inventory.cart import service as cart
from inventory.counterfeit.models import Supplier
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.extensions import db
from inventory.models import Clinic, Location, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from recall import services as recall
from tests.browser.conftest import screenshot, sign_in

LOT = "RCLW26"


def _a_case_with_a_wasted_line(live_server, lot: str) -> int:
    """London receives three vials of a lot of its own; the lot is recalled; the safety lead wastes one."""
    with live_server.app.app_context():
        s = db.session
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(["manager", "safety"])))}
        london = s.scalar(select(Clinic).where(Clinic.code == "LON"))
        fridge = s.scalar(select(Location).where(Location.clinic_id == london.id,
                                                 Location.name == "Medicines fridge"))
        now, everywhere = utcnow(), Scope.everything()
        supplier_id = s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
        receipt = receiving.receive(s, actor=users["manager"], scope=everywhere, location_id=fridge.id,
                                    containers=3, now=now, gtin=demo_gtin(1), lot_number=lot,
                                    expiry=dt.date(2028, 1, 31), supplier_id=supplier_id)
        case = recall.open_recall(s, actor=users["safety"], lot_ids=[receipt.lot_id], reason="Notice 44",
                                  recall_class="II", source="manufacturer", now=now)
        cart.waste(s, actor=users["safety"], scope=everywhere, container_id=receipt.containers[0].id,
                   reason="other", note="dropped on the floor", now=now)
        db.session.commit()
        return case.id


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None
    return box


@pytest.mark.parametrize("width", [390, 1200, 1280, 1440])
def test_a_wasted_line_keeps_destroyed_beside_done_and_the_hint_below(page, live_server, width):
    case_id = _a_case_with_a_wasted_line(live_server, f"{LOT}{live_server.backend[0].upper()}{width}")
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "safety")
    page.goto(f"/recalls/{case_id}")

    hint = page.locator("form.recall-line-form .wasted-not-returned")
    expect(hint).to_have_count(1)
    form = page.locator("form.recall-line-form", has=page.locator(".wasted-not-returned"))
    done, choice = form.locator("label", has_text="Done"), form.locator("select")
    note_label, save = form.locator("label", has_text="Note"), form.locator("button")
    expect(choice.locator("option")).to_have_text(["Destroyed"])
    screenshot(page, f"recall-wasted-line-{width}-{live_server.backend}")

    form_box, done_box, choice_box = _box(form), _box(done), _box(choice)
    hint_box, note_box = _box(hint), _box(note_label)
    # "Destroyed" beside "Done", within the form; the hint under both, on its own line; "Note" under the hint.
    assert choice_box["x"] > done_box["x"] + done_box["width"] - 1
    assert abs((choice_box["y"] + choice_box["height"] / 2) - (done_box["y"] + done_box["height"] / 2)) < 4
    assert choice_box["x"] + choice_box["width"] <= form_box["x"] + form_box["width"] + 1
    assert hint_box["y"] >= choice_box["y"] + choice_box["height"] - 1
    assert note_box["y"] >= hint_box["y"] + hint_box["height"] - 1
    assert abs(note_box["x"] - done_box["x"]) < 2
    # Nothing overflows the table's scroll box: every line's Save button is in view within it.
    scroll = page.locator(".table-scroll", has=page.locator("table.recall-containers"))
    assert scroll.evaluate("el => el.scrollWidth <= el.clientWidth"), "the containers' table scrolls sideways"
    scroll_box = _box(scroll)
    for button in page.locator("table.recall-containers form.recall-line-form button").all():
        button_box = _box(button)
        assert button_box["x"] + button_box["width"] <= scroll_box["x"] + scroll_box["width"] + 1
    assert _box(save)["width"] > 0
