"""A count finds a sealed medicine whole or missing, never in part: the rule on plain objects (lifecycle.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory import lifecycle
from inventory.errors import ValidationError
from inventory.models.catalog import ProductKind
from inventory.models.stock import ContainerState
from tests.unit.test_lifecycle import NOW, Container, Product, mixed, syringe


def hylenex(**changes) -> Container:
    product = Product(name="Hylenex recombinant 150 USP U/mL", kind=ProductKind.HYALURONIDASE, base_unit="USP U",
                      quantity_per_container=Decimal(150), requires_reconstitution=False, strength_per_ml=Decimal(150))
    container = Container(product=product, initial_quantity=Decimal(150), remaining=Decimal(150))
    for name, value in changes.items():
        setattr(container, name, value)
    return container


def needles() -> Container:
    product = Product(name="Needle 30 G 13 mm (box of 100)", kind=ProductKind.SUPPLY, base_unit="each",
                      quantity_per_container=Decimal(100), requires_reconstitution=False)
    return Container(product=product, initial_quantity=Decimal(100), remaining=Decimal(100))


@pytest.mark.parametrize(("container", "counted", "words"), [
    (syringe(), "0.3", "is a sealed syringe: it holds its 0.55 mL, or it is missing (0)"),
    (hylenex(), "75", "is a sealed vial: it holds its 150 USP U, or it is missing (0)"),
    (Container(), "50", "is sealed powder: it holds its 100 U, or it is missing (0)"),
])
def test_part_of_a_sealed_medicine_is_refused_by_a_count(container, counted, words):
    with pytest.raises(ValidationError) as refused:
        lifecycle.ensure_counted_whole_if_sealed(container, Decimal(counted), field="lines.0.counted")
    assert words in refused.value.message and "count 0 and tell the safety lead" in refused.value.message
    assert refused.value.details["field"] == "lines.0.counted"


@pytest.mark.parametrize("counted", ["0", "full"])
def test_a_sealed_syringe_is_counted_whole_or_missing(counted):
    container = syringe()
    lifecycle.ensure_counted_whole_if_sealed(
        container, container.initial_quantity if counted == "full" else Decimal(counted))


def test_what_is_left_in_an_opened_container_or_a_box_of_supplies_is_counted_as_found():
    opened_syringe = syringe(state=ContainerState.IN_USE, remaining=Decimal("0.35"), patient_id=21, opened_at=NOW)
    for container, counted in [(opened_syringe, "0.3"), (mixed(), "50"), (needles(), "40")]:
        lifecycle.ensure_counted_whole_if_sealed(container, Decimal(counted))


def test_wasting_part_of_a_sealed_syringe_stays_allowed_only_powder_is_wasted_whole():
    """The waste is the recorded opening (a dose spilt while drawing it up); a count finds an unrecorded one."""
    assert lifecycle.is_sealed_whole(syringe()) and not lifecycle.is_whole_or_nothing(syringe())
    lifecycle.ensure_whole_if_sealed(syringe(), Decimal("0.05"))
    assert lifecycle.is_whole_or_nothing(Container()) and not lifecycle.is_whole_or_nothing(mixed())
