"""An excursion holds only the containers whose product's storage range it left (DOMAIN.md "Counterfeits,
suppliers and the cold chain": only temperature-sensitive containers are held), and says why of each one it
did not hold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold
from inventory.models import AuditEvent, ProductKind
from tests.factories import EVERYWHERE, NOW, refusal

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
START, END = NOW - 6 * HOUR, NOW - 2 * HOUR
BEFORE = NOW - 48 * HOUR


def excursion(world, *, min_c: str, max_c: str, start=START, end=END):
    return cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
        started_at=start, ended_at=end, min_c=Decimal(min_c), max_c=Decimal(max_c), now=NOW,
    )


def stocked_fridge(world) -> dict:
    """One container of each kind in the London fridge since two days."""
    return {name: world.container(name, lot=f"LT-{name.upper()}", now=BEFORE)
            for name in ("botox", "hylenex", "filler", "firm_filler", "syringe")}


def held_names(fridge: dict) -> set[str]:
    return {name for name, container in fridge.items() if container.on_hold_since is not None}


def test_a_14_degree_fridge_excursion_holds_toxins_and_hyaluronidase_but_not_fillers_or_supplies(world):
    fridge = stocked_fridge(world)

    result = excursion(world, min_c="2", max_c="14")

    assert held_names(fridge) == {"botox", "hylenex"}
    assert {c.id for c in result.held} == {fridge["botox"].id, fridge["hylenex"].id}
    assert {c.id for c in result.not_held} == {fridge[n].id for n in ("filler", "firm_filler", "syringe")}
    reasons = {d.container.id: (d.held, d.reason) for d in result.decisions}
    assert reasons[fridge["firm_filler"].id] == (
        False, "Juvederm Voluma XC 1.0 mL: stored at 2-25 °C, not held (2 to 14 °C is within it)")
    assert reasons[fridge["botox"].id] == (
        True, "Botox Cosmetic 100 U: stored at 2-8 °C, held (2 to 14 °C is outside it)")
    assert reasons[fridge["syringe"].id] == (False, "Syringe 1 mL Luer-lock: not temperature-sensitive, not held")
    holds = world.session.scalars(select(ContainerHold.container_id).where(
        ContainerHold.excursion_id == result.excursion.id))
    assert sorted(holds) == sorted([fridge["botox"].id, fridge["hylenex"].id])
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "cold_chain.excursion_recorded"))
    assert audit.details["held_container_ids"] == sorted([fridge["botox"].id, fridge["hylenex"].id])
    assert audit.details["not_held"][str(fridge["filler"].id)].startswith("Juvederm Volbella XC 0.55 mL: stored at")


def test_a_30_degree_excursion_holds_fillers_too(world):
    fridge = stocked_fridge(world)

    excursion(world, min_c="5", max_c="30")

    assert held_names(fridge) == {"botox", "hylenex", "filler", "firm_filler"}
    assert "(it is stored at 2-25 °C)" in fridge["filler"].hold_reason


def test_a_freezing_excursion_holds_fillers_too(world):
    fridge = stocked_fridge(world)

    excursion(world, min_c="-3", max_c="4")

    assert held_names(fridge) == {"botox", "hylenex", "filler", "firm_filler"}


@pytest.mark.parametrize(("min_c", "max_c", "filler_held"), [
    ("2", "25", False),      # the top of the filler's range is still within it
    ("2", "25.1", True),
    ("1.9", "8", True),      # below 2 °C: a filler is not to be frozen or chilled below its label
])
def test_a_filler_is_held_exactly_when_the_excursion_leaves_2_to_25(world, min_c, max_c, filler_held):
    syringe = world.container("filler", now=BEFORE)
    vial = world.container("botox", lot="LT-TOXIN", now=BEFORE)

    excursion(world, min_c=min_c, max_c=max_c)

    assert (syringe.on_hold_since is not None) is filler_held
    assert vial.on_hold_since == NOW  # outside 2-8 °C every time


def test_a_filler_already_on_hold_stays_on_hold_and_a_milder_excursion_adds_no_hold_of_its_own(world):
    syringe = world.container("filler", now=BEFORE)
    excursion(world, min_c="5", max_c="30", start=BEFORE + HOUR, end=BEFORE + 2 * HOUR)
    first_reason = syringe.hold_reason

    result = excursion(world, min_c="3", max_c="12")

    assert [c.id for c in result.not_held] == [syringe.id]
    assert syringe.hold_reason == first_reason and syringe.on_hold_since is not None
    count = world.session.scalar(select(func.count()).select_from(ContainerHold)
                                 .where(ContainerHold.container_id == syringe.id))
    assert count == 1


def test_an_excursion_that_holds_nothing_is_still_recorded(world):
    syringe = world.container("filler", now=BEFORE)

    result = excursion(world, min_c="9", max_c="20")

    assert (result.held, [c.id for c in result.not_held]) == ([], [syringe.id])
    assert result.excursion.id is not None
    assert refusal(lambda: cold_chain.release_hold(
        world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=syringe.id, reason="x",
        now=NOW)).code == "not_on_hold"


def test_a_loggers_run_above_8_degrees_holds_the_toxin_and_not_the_filler(world):
    vial = world.container("botox", now=BEFORE)
    syringe = world.container("filler", now=BEFORE)
    readings = "time,celsius\n2026-06-15T02:00:00+00:00,5\n2026-06-15T03:00:00+00:00,11.5\n" \
               "2026-06-15T04:00:00+00:00,6\n"

    imported = cold_chain.import_logger(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                        location_id=world.location().id, text=readings, now=NOW)

    (recorded,) = imported.excursions
    assert ([c.id for c in recorded.held], [c.id for c in recorded.not_held]) == ([vial.id], [syringe.id])
    assert syringe.on_hold_since is None


def test_by_product_lists_held_products_first_with_their_containers(world):
    fridge = stocked_fridge(world)
    second_filler = world.container("filler", lot="LT-FILLER-2", now=BEFORE)

    result = excursion(world, min_c="3", max_c="12")

    summary = [(d.container.product.name, d.held, [c.id for c in containers]) for d, containers in result.by_product()]
    assert summary == [
        ("Botox Cosmetic 100 U", True, [fridge["botox"].id]),
        ("Hylenex recombinant 150 USP U/mL", True, [fridge["hylenex"].id]),
        ("Juvederm Volbella XC 0.55 mL", False, sorted([fridge["filler"].id, second_filler.id])),
        ("Juvederm Voluma XC 1.0 mL", False, [fridge["firm_filler"].id]),
        ("Syringe 1 mL Luer-lock", False, [fridge["syringe"].id]),
    ]


def test_every_product_kind_has_a_storage_rule():
    assert set(cold_chain.STORAGE_BY_KIND) == set(ProductKind)
    assert cold_chain.storage_rule() == "toxins at 2-8 °C, hyaluronidase at 2-8 °C, fillers at 2-25 °C; " \
                                        "supplies never held"
