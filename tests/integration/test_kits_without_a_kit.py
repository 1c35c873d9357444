"""A clinic that holds filler and no emergency kit with hyaluronidase is not ready (DOMAIN.md: hyaluronidase is
kept in every room where filler is injected): the daily ``vialog kits`` says so and exits 1, as for a kit."""

from __future__ import annotations

from decimal import Decimal

from inventory.kits import service as kits
from inventory.kits.service import ClinicWithoutKit, RequirementSpec
from inventory.models import ProductKind, utcnow
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, kit_location
from tests.kit_factories import check, stocked_kit


def _filler(world, clinic, count: int = 2) -> None:
    world.receive("filler", containers=count, location=world.location("Room 1", clinic))


def _kit_of(world, clinic, *requirements: RequirementSpec, name: str) -> None:
    template = kits.create_template(world.session, name=name, check_interval_days=7, warning_days=30,
                                    requirements=list(requirements))
    kits.create_kit(world.session, scope=EVERYWHERE, template_id=template.id, name=name,
                    location_id=kit_location(world, clinic, name).id)


def test_a_clinic_with_filler_and_no_kit_with_hyaluronidase_is_listed(world):
    nyc = world.other_clinic
    stocked_kit(world)  # London: a kit that asks for hyaluronidase
    _filler(world, world.clinic)
    assert kits.clinics_without_a_kit(world.session, scope=EVERYWHERE) == []  # no filler in New York yet

    _filler(world, nyc, count=3)
    syringes = RequirementSpec("Syringes 1 mL", Decimal(2), product_id=world.products["syringe"].id)
    _kit_of(world, nyc, syringes, name="Anaphylaxis kit")  # a kit, but nothing in it dissolves filler
    (missing,) = kits.clinics_without_a_kit(world.session, scope=EVERYWHERE)
    assert missing == ClinicWithoutKit(nyc.id, "NYC", 3)
    assert missing.text == ("3 filler containers here, and hyaluronidase is kept wherever filler is injected: make a "
                            "kit (Kit templates, New kit) before the next filler treatment")
    assert kits.clinics_without_a_kit(world.session, scope=Scope(frozenset({world.clinic.id}))) == []

    hylenex = RequirementSpec("Hylenex", Decimal(150), product_id=world.products["hylenex"].id)
    _kit_of(world, nyc, hylenex, name="Vascular occlusion kit (NYC)")  # hyaluronidase named by its product
    assert kits.clinics_without_a_kit(world.session, scope=EVERYWHERE) == []


def test_a_clinic_without_filler_needs_no_kit(world):
    world.receive("botox", location=world.location("Fridge", world.other_clinic))
    assert kits.clinics_without_a_kit(world.session, scope=EVERYWHERE) == []


def test_the_daily_board_says_a_clinic_with_filler_and_no_kit_is_not_ready_and_exits_1(app, world, session):
    london = stocked_kit(world)
    check(world, london, at=utcnow())
    _filler(world, world.clinic)
    _filler(world, world.other_clinic)
    session.commit()  # releases the test's savepoint so the command's session sees the rows
    runner = app.test_cli_runner()

    board = runner.invoke(args=["kits"])
    assert board.exit_code == 1, board.output
    assert board.output.splitlines() == [
        "READY          Emergency kit (room 1) (LON)",
        "NOT READY      No emergency kit with hyaluronidase (NYC): 2 filler containers here, and hyaluronidase is "
        "kept wherever filler is injected: make a kit (Kit templates, New kit) before the next filler treatment",
        "1 kit: 1 ready, 0 expiring soon, 0 not ready; 1 clinic with filler and no emergency kit (NYC).",
    ]
    assert runner.invoke(args=["kits", "--clinic", "NYC"]).exit_code == 1
    alone = runner.invoke(args=["kits", "--clinic", "LON"])
    assert alone.exit_code == 0 and "NYC" not in alone.output, alone.output


def test_the_kind_of_a_requirement_counts_as_hyaluronidase_too(world):
    _filler(world, world.other_clinic)
    by_kind = RequirementSpec("Hyaluronidase", Decimal(300), product_kind=ProductKind.HYALURONIDASE)
    _kit_of(world, world.other_clinic, by_kind, name="Emergency kit (NYC)")
    assert kits.clinics_without_a_kit(world.session, scope=EVERYWHERE) == []
