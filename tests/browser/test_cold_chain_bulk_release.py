"""The safety lead releases what one excursion held in one go: on the hold board, narrowed to the fridge, she leaves
one vial out (unticks it), types the reason once and presses "Release N" (the buttons say how many are ticked,
"all N" only when all are); the others are released, the one left out stays on hold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.extensions import db
from inventory.models import Clinic, Container, Location, LocationKind, Product, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.browser.conftest import answer, screenshot, sign_in

WIDE = {"width": 1300, "height": 900}


def _held_in_a_fridge_of_its_own(live_server, count: int = 4, name: str = "Bulk-release fridge",
                                 lot: str = "BULK77") -> tuple[int, list[str]]:
    """``count`` Hylenex vials received two hours ago into a New York fridge of this test's own, held by an
    excursion of the last hour there (a fridge no other test records excursions at)."""
    with live_server.app.app_context():
        session = db.session
        lead = session.scalar(select(User).where(User.username == "safety"))
        manager = session.scalar(select(User).where(User.username == "manager"))
        nyc = session.scalar(select(Clinic).where(Clinic.code == "NYC"))
        fridge = Location(clinic_id=nyc.id, name=name, kind=LocationKind.FRIDGE,
                          temperature_sensitive=True)
        session.add(fridge)
        session.flush()
        product = session.scalar(select(Product).where(Product.name == "Hylenex recombinant 150 USP U/mL"))
        now = utcnow()
        receipt = receiving.receive(session, actor=manager, scope=Scope.everything(), location_id=fridge.id,
                                    containers=count, now=now - dt.timedelta(hours=2), gtin=product.gtins[0].gtin,
                                    lot_number=lot, expiry=dt.date(2099, 12, 31))
        cold_chain.record_excursion(session, actor=lead, scope=Scope.everything(), location_id=fridge.id,
                                    started_at=now - dt.timedelta(hours=1), ended_at=now, min_c=Decimal(9),
                                    max_c=Decimal(13), now=now)
        session.commit()
        return fridge.id, sorted(c.label_code for c in receipt.containers)


def test_the_safety_lead_releases_all_but_one_of_an_excursions_vials_with_one_reason(page, live_server):
    fridge_id, labels = _held_in_a_fridge_of_its_own(live_server)
    page.set_viewport_size(WIDE)
    sign_in(page, "safety")
    page.goto("/cold-chain")
    page.select_option("#hold_location_id", label="NYC · Bulk-release fridge")
    page.click(".hold-filter button:has-text('Show')")
    group = page.locator("tbody.hold-group").filter(has_text="NYC · Bulk-release fridge was at 9 to 13 °C")
    expect(group.locator(".hold-group-count")).to_have_text("4 containers")
    expect(group.locator("input[name=container_id]:checked")).to_have_count(4)

    kept = labels[1]
    group.locator(f"tr[data-label='{kept}'] input[name=container_id]").uncheck()
    group.locator("input[name=reason]").press_sequentially("Manufacturer: stable 72 h up to 25 °C", delay=90)
    screenshot(page, f"cold_chain_bulk_release_{live_server.backend}", full_page=False)
    expect(group.locator("button[data-hold-button=release]")).to_have_text("Release 3")
    group.locator("button:has-text('Release 3')").click()

    released = [label for label in labels if label != kept]
    expect(page.locator(".flash-ok")).to_have_text(
        f"Released 3 containers ({', '.join(released)}): they may be used again.")
    expect(page.locator("#hold_location_id")).to_have_value(str(fridge_id))  # still narrowed to the fridge
    expect(page.locator("table.holds tr[data-label]")).to_have_count(1)
    expect(page.locator(f"table.holds tr[data-label='{kept}']")).to_have_count(1)
    expect(page.locator("tbody.hold-group button:has-text('Release all 1')")).to_be_visible()
    with live_server.app.app_context():
        held = db.session.scalars(select(Container.label_code).where(
            Container.label_code.in_(labels), Container.on_hold_since.is_not(None))).all()
    assert held == [kept]


def test_waste_all_asks_first_and_a_no_wastes_nothing(page, live_server):
    """Release all is undone by a new hold; waste is for good: its button alone asks, naming what it does."""
    fridge_id, labels = _held_in_a_fridge_of_its_own(live_server, 2, name="Waste-asks fridge", lot="WASK12")
    page.set_viewport_size(WIDE)
    sign_in(page, "safety")
    page.goto(f"/cold-chain?location_id={fridge_id}")
    group = page.locator("tbody.hold-group").filter(has_text="NYC · Waste-asks fridge was at 9 to 13 °C")
    group.locator("input[name=reason]").press_sequentially("warm for an hour", delay=90)
    group.locator("button:has-text('Waste all 2')").click()
    asked = answer(page, "Cancel")
    expect(group.locator("input[name=container_id]:checked")).to_have_count(2)  # still on the page
    assert asked == "Waste all 2 containers for good? They leave stock and cannot be used again."
    with live_server.app.app_context():
        held = db.session.scalars(select(Container.label_code).where(
            Container.label_code.in_(labels), Container.on_hold_since.is_not(None))).all()
    assert sorted(held) == labels


def test_a_groups_buttons_say_how_many_are_ticked_and_cannot_be_pressed_with_none(page, live_server):
    """Ten held, four unticked: "Release 6" and "Waste 6", the waste question names the six, and what is released is
    the six; with none ticked neither button can be pressed, and the group says why."""
    fridge_id, labels = _held_in_a_fridge_of_its_own(live_server, 10, name="Ticked-words fridge", lot="TICK10")
    page.set_viewport_size(WIDE)
    sign_in(page, "safety")
    page.goto(f"/cold-chain?location_id={fridge_id}")
    group = page.locator("tbody.hold-group").filter(has_text="NYC · Ticked-words fridge was at 9 to 13 °C")
    release, waste = group.locator("button[data-hold-button=release]"), group.locator("button[data-hold-button=waste]")
    reason, why = group.locator("input[name=reason]"), group.locator(".hold-none-ticked")
    expect(release).to_have_text("Release all 10")
    expect(waste).to_have_text("Waste all 10")

    unticked = labels[:4]
    for label in unticked:
        group.locator(f"tr[data-label='{label}'] input[name=container_id]").uncheck()
    expect(release).to_have_text("Release 6")
    expect(waste).to_have_text("Waste 6")
    expect(reason).to_have_attribute("aria-label", "Reason for the 6 ticked containers")
    reason.press_sequentially("warm for two minutes", delay=40)
    waste.click()
    asked = answer(page, "Cancel")
    expect(group.locator("input[name=container_id]:checked")).to_have_count(6)  # a no: still on the page
    assert asked == ("Waste 6 of the 10 containers for good? They leave stock and cannot be used again. "
                     "The 4 not ticked stay on hold.")

    for box in group.locator("input[name=container_id]").all():
        box.uncheck()
    expect(release).to_be_disabled()
    expect(waste).to_be_disabled()
    expect(why).to_have_text("Nothing is ticked: tick the containers to release or waste.")
    expect(reason).to_have_attribute("aria-label", "Reason: no container is ticked")
    screenshot(page, f"cold_chain_none_ticked_{live_server.backend}", full_page=False)

    for box in group.locator("input[name=container_id]").all():
        box.check()
    expect(release).to_have_text("Release all 10")
    expect(release).to_be_enabled()
    expect(why).to_have_text("")
    for label in unticked:
        group.locator(f"tr[data-label='{label}'] input[name=container_id]").uncheck()
    release.click()
    expect(page.locator(".flash-ok")).to_contain_text("Released 6 containers (")
    expect(page.locator("table.holds tr[data-label]")).to_have_count(4)
    expect(page.locator("tbody.hold-group button[data-hold-button=release]")).to_have_text("Release all 4")
    with live_server.app.app_context():
        held = db.session.scalars(select(Container.label_code).where(
            Container.label_code.in_(labels), Container.on_hold_since.is_not(None))).all()
    assert sorted(held) == unticked
