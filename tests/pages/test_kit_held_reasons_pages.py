"""A kit card with many held vials says so in one line ("10 containers on hold after a temperature excursion
(...)"), naming a few labels and linking to the hold board at the kit's place, instead of a line per vial; the
API and the kit's checks keep one reason per container (``grouped_reasons`` is for people)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from inventory.cold_chain import service as cold_chain
from inventory.kits import service as kits
from tests.factories import EVERYWHERE, NOW
from tests.kit_factories import check, new_kit, stock

HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)


def held_kit(world, count: int):
    kit = new_kit(world)
    vials = stock(world, kit, "hylenex", count=count, now=NOW - 48 * HOUR)
    check(world, kit, at=NOW - 24 * HOUR)
    kit.location.temperature_sensitive = True
    cold_chain.record_excursion(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                location_id=kit.location.id, started_at=NOW - 3 * HOUR, ended_at=NOW - HOUR,
                                min_c=Decimal(9), max_c=Decimal(14), now=NOW)
    world.session.flush()
    return kit, sorted(v.label_code for v in vials)


def test_ten_held_vials_read_as_one_line_on_the_kit_board(browser_client, world):
    kit, labels = held_kit(world, 10)

    html = browser_client("safety").get("/kits").get_data(as_text=True)

    assert html.count("on hold after a temperature excursion") == 1
    line = (f"10 containers on hold after a temperature excursion (Hylenex recombinant 150 USP U/mL: "
            f"{labels[0]}, {labels[1]}, {labels[2]} and 7 more): they do not count; a safety lead releases or "
            f"wastes them")
    assert line in html
    assert f'<a href="/cold-chain?location_id={kit.location.id}">on the hold board</a>' in html
    kit_page = browser_client("safety").get(f"/kits/{kit.id}").get_data(as_text=True)
    assert line in kit_page


def test_the_readiness_keeps_a_reason_per_container_and_one_held_vial_reads_as_before(world):
    kit, labels = held_kit(world, 3)
    (state,) = kits.readiness(world.session, scope=EVERYWHERE, now=NOW, kit_ids=[kit.id])
    held = [r for r in state.reasons if r.code == "on_hold_inside"]
    assert sorted(r.data["label_code"] for r in held) == labels
    (grouped,) = [r for r in state.shown_reasons if r.code == "on_hold_inside"]
    assert grouped.text.startswith("3 containers on hold after a temperature excursion (")
    assert [c["label_code"] for c in grouped.data["containers"]] == [r.data["label_code"] for r in held]
    assert kits.grouped_reasons(held[:1]) == held[:1]
