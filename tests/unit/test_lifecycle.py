"""The container lifecycle's rules on plain objects: no database, no Flask."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from inventory import lifecycle
from inventory.errors import DomainError
from inventory.models.catalog import ProductKind
from inventory.models.stock import ContainerState, LotStatus, MovementKind

NOW = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)  # 10:30 in London
HOUR = dt.timedelta(hours=1)


@dataclass
class Product:
    name: str = "Botox Cosmetic 100 U"
    kind: ProductKind = ProductKind.NEUROMODULATOR
    base_unit: str = "U"
    quantity_per_container: Decimal = Decimal(100)
    requires_reconstitution: bool = True
    strength_per_ml: Decimal | None = None
    beyond_use_hours: int | None = None
    is_multi_patient: bool = False

    @property
    def is_single_patient(self) -> bool:
        return self.kind is ProductKind.FILLER or (self.requires_reconstitution and not self.is_multi_patient)


@dataclass
class Lot:
    product: Product
    id: int = 1
    number: str = "LT4821A"
    expiry: dt.date = dt.date(2027, 3, 31)
    status: LotStatus = LotStatus.ACTIVE
    status_reason: str | None = None


@dataclass
class Clinic:
    timezone: str = "Europe/London"
    filler_hold_days: int = 0


@dataclass
class Container:
    product: Product = field(default_factory=Product)
    lot: Lot | None = None
    clinic: Clinic = field(default_factory=Clinic)
    id: int = 7
    label_code: str = "VL3K7QX2M9"
    clinic_id: int = 1
    state: ContainerState = ContainerState.SEALED
    initial_quantity: Decimal = Decimal(100)
    remaining: Decimal = Decimal(100)
    concentration_u_per_ml: Decimal | None = None
    reconstituted_at: dt.datetime | None = None
    beyond_use_at: dt.datetime | None = None
    patient_id: int | None = None
    opened_treatment_id: int | None = None
    opened_at: dt.datetime | None = None
    on_hold_since: dt.datetime | None = None
    hold_reason: str | None = None

    def __post_init__(self) -> None:
        self.lot = self.lot or Lot(self.product)


@dataclass
class Treatment:
    id: int = 11
    clinic_id: int = 1
    patient_id: int = 21


def mixed(**changes) -> Container:
    """A Botox vial reconstituted with 2.5 mL an hour ago: 40 U/mL, usable for 24 hours."""
    container = Container(state=ContainerState.IN_USE, concentration_u_per_ml=Decimal(40),
                          reconstituted_at=NOW - HOUR, beyond_use_at=NOW + 23 * HOUR)
    for name, value in changes.items():
        setattr(container, name, value)
    return container


def syringe(**changes) -> Container:
    product = Product(name="Juvederm Volbella XC 0.55 mL", kind=ProductKind.FILLER, base_unit="mL",
                      quantity_per_container=Decimal("0.55"), requires_reconstitution=False)
    container = Container(product=product, initial_quantity=Decimal("0.55"), remaining=Decimal("0.55"))
    for name, value in changes.items():
        setattr(container, name, value)
    return container


def refusal_code(container: Container, treatment: Treatment = Treatment(), now: dt.datetime = NOW) -> str | None:
    refusal = lifecycle.scan_refusal(container, treatment, now)
    return refusal.code if refusal is not None else None


# --- may it be drawn -------------------------------------------------------------------------------


def test_a_mixed_vial_within_its_beyond_use_time_may_be_drawn():
    lifecycle.ensure_drawable(mixed(), Treatment(), NOW)


def test_a_sealed_powder_is_not_refused_at_scan_time_but_may_not_be_drawn():
    assert refusal_code(Container()) is None  # reconstituting it is the next step
    with pytest.raises(DomainError) as refused:
        lifecycle.ensure_drawable(Container(), Treatment(), NOW)
    assert refused.value.code == "not_reconstituted"


@pytest.mark.parametrize(("status", "code"), [(LotStatus.QUARANTINED, "lot_quarantined"),
                                              (LotStatus.RECALLED, "lot_recalled")])
def test_a_lot_that_may_not_be_used_refuses_every_container(status, code):
    container = mixed()
    container.lot.status = status
    assert refusal_code(container) == code


def test_expiry_holds_through_the_end_of_the_day_in_the_clinics_zone():
    container = mixed()
    container.lot.expiry = dt.date(2026, 6, 15)
    late_evening_london = dt.datetime(2026, 6, 15, 22, 30, tzinfo=dt.UTC)  # 23:30 BST, still the 15th
    container.beyond_use_at = late_evening_london + HOUR
    assert refusal_code(container, now=late_evening_london) is None
    past_midnight_london = dt.datetime(2026, 6, 15, 23, 30, tzinfo=dt.UTC)  # 00:30 BST on the 16th
    container.beyond_use_at = past_midnight_london + HOUR
    assert refusal_code(container, now=past_midnight_london) == "lot_expired"


def test_beyond_use_time_refuses_from_the_minute_it_comes():
    assert refusal_code(mixed(beyond_use_at=NOW)) == "beyond_use"
    assert refusal_code(mixed(beyond_use_at=NOW + dt.timedelta(minutes=1))) is None


@pytest.mark.parametrize(("state", "remaining", "code"), [
    (ContainerState.EMPTY, Decimal(0), "container_empty"),
    (ContainerState.DISCARDED, Decimal(0), "container_empty"),
    (ContainerState.IN_TRANSIT, Decimal(40), "container_in_transit"),
])
def test_a_container_with_nothing_here_is_refused(state, remaining, code):
    assert refusal_code(mixed(state=state, remaining=remaining)) == code


def test_another_clinics_stock_is_unknown_to_this_treatment():
    assert refusal_code(mixed(clinic_id=2)) == "unknown_container"


def test_a_single_patient_vial_serves_only_the_session_it_was_opened_in():
    opened = mixed(patient_id=21, opened_treatment_id=11, opened_at=NOW - HOUR)
    assert refusal_code(opened, Treatment(id=11, patient_id=21)) is None
    assert refusal_code(opened, Treatment(id=12, patient_id=22)) == "container_other_patient"
    assert refusal_code(opened, Treatment(id=12, patient_id=21)) == "container_other_patient"  # a later session


def test_a_shared_vial_serves_every_patient_within_beyond_use():
    shared = mixed(patient_id=None)
    shared.product.is_multi_patient = True
    assert refusal_code(shared, Treatment(id=12, patient_id=22)) is None


def test_a_filler_syringe_is_held_for_its_patient_for_the_clinics_hold_days():
    opened = syringe(state=ContainerState.IN_USE, remaining=Decimal("0.3"), patient_id=21, opened_treatment_id=11,
                     opened_at=NOW - dt.timedelta(days=2))
    later_visit = Treatment(id=12, patient_id=21)
    assert refusal_code(opened, later_visit) == "container_other_patient"  # hold days 0: wasted at close
    opened.clinic.filler_hold_days = 3
    assert refusal_code(opened, later_visit) is None
    assert refusal_code(opened, Treatment(id=13, patient_id=22)) == "container_other_patient"


# --- states --------------------------------------------------------------------------------------


def test_the_first_draw_opens_and_binds_a_single_patient_container():
    container = syringe()
    lifecycle.open_for(container, patient_id=21, treatment_id=11, now=NOW)
    assert (container.state, container.patient_id, container.opened_treatment_id, container.opened_at) == (
        ContainerState.IN_USE, 21, 11, NOW)


@pytest.mark.parametrize(("kind", "quantity", "balance", "before", "after"), [
    (MovementKind.DRAW, Decimal(-4), Decimal(0), ContainerState.IN_USE, ContainerState.EMPTY),
    (MovementKind.WASTE, Decimal(-4), Decimal(0), ContainerState.IN_USE, ContainerState.DISCARDED),
    (MovementKind.DRAW, Decimal(4), Decimal(4), ContainerState.EMPTY, ContainerState.IN_USE),  # a reversal
    (MovementKind.TRANSFER_OUT, Decimal(-100), Decimal(0), ContainerState.SEALED, ContainerState.SEALED),
    (MovementKind.DRAW, Decimal(-4), Decimal(96), ContainerState.IN_USE, ContainerState.IN_USE),
])
def test_the_state_after_a_movement(kind, quantity, balance, before, after):
    assert lifecycle.state_after_movement(before, kind=kind, quantity=quantity, balance=balance) is after


def test_part_gone_opens_a_sealed_container_and_a_full_untouched_one_is_sealed_again():
    container = syringe(remaining=Decimal("0.3"))
    lifecycle.settle(container)
    assert container.state is ContainerState.IN_USE
    container.remaining = Decimal("0.55")
    lifecycle.settle(container)
    assert container.state is ContainerState.SEALED
    mixed_full = mixed(remaining=Decimal(100))
    lifecycle.settle(mixed_full)
    assert mixed_full.state is ContainerState.IN_USE  # reconstituted: never sealed again


def test_an_opened_container_is_never_assumed_full():
    assert not lifecycle.is_opened(Container())
    assert lifecycle.is_opened(mixed())
    assert lifecycle.is_opened(syringe(opened_at=NOW))


# --- doses -------------------------------------------------------------------------------------------


def test_a_toxin_dose_in_ml_is_stored_in_its_own_units_with_the_concentration():
    assert lifecycle.dose(mixed(), Decimal("0.1"), "mL") == lifecycle.Dose(Decimal(4), Decimal("0.1"), Decimal(40), "mL")
    assert lifecycle.dose(mixed(), Decimal(4), "U") == lifecycle.Dose(Decimal(4), Decimal("0.1"), Decimal(40), "U")


def test_a_dose_too_small_to_draw_says_the_concentration_to_two_decimals():
    """Daxxify 100 U in 1.2 mL: the refusal read "at 83.3333 U per mL"; the arithmetic keeps every decimal."""
    with pytest.raises(DomainError) as refused:
        lifecycle.dose(mixed(concentration_u_per_ml=Decimal("83.3333")), Decimal("0.0001"), "U")
    assert refused.value.message.startswith("0.0001 U is too small to draw: at 83.33 U per mL it is less than")


def test_a_filler_is_drawn_in_ml_only_and_units_are_never_converted_across_products():
    assert lifecycle.dose(syringe(), Decimal("0.2"), "mL").quantity == Decimal("0.2")
    with pytest.raises(DomainError) as refused:
        lifecycle.dose(syringe(), Decimal(4), "U")
    assert refused.value.code == "validation_error" and refused.value.details["accepted"] == ["mL"]


def test_a_sealed_powder_has_no_concentration_so_ml_is_refused():
    with pytest.raises(DomainError):
        lifecycle.dose(Container(), Decimal("0.1"), "mL")
    assert lifecycle.accepted_units(Product(), None) == ["U"]


# --- what adds up ------------------------------------------------------------------------------


def test_pharmacopoeial_units_pool_across_products_and_brand_units_never_do():
    """DOMAIN.md: USP with USP and IU with IU across products; a toxin's units stay with its product."""
    assert lifecycle.stock_pool(1, "USP U") == lifecycle.stock_pool(2, "USP U")
    assert lifecycle.stock_pool(1, "IU") == lifecycle.stock_pool(2, "IU")
    assert lifecycle.stock_pool(1, "IU") != lifecycle.stock_pool(2, "USP U")
    assert lifecycle.stock_pool(1, "U") != lifecycle.stock_pool(2, "U")
    assert lifecycle.stock_pool(1, "s.U") != lifecycle.stock_pool(2, "s.U")


def test_a_kit_skips_stock_bound_to_a_patient_or_past_beyond_use():
    now = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)
    skipped = lifecycle.skipped_for_next_patient
    assert skipped(bound_to_patient=False, beyond_use_at=None, now=now) is None
    assert skipped(bound_to_patient=False, beyond_use_at=now + dt.timedelta(minutes=1), now=now) is None
    assert skipped(bound_to_patient=True, beyond_use_at=None, now=now) == "opened for a patient"
    assert skipped(bound_to_patient=False, beyond_use_at=now, now=now) == "past its beyond-use time"
# --- holds (issue 20: a cold-chain excursion holds the containers that were in the fridge) ----------------

HELD = {"on_hold_since": NOW - HOUR, "hold_reason": "Fridge was at 11 to 14 °C"}


def test_a_container_on_hold_refuses_a_draw_even_before_a_quantity_is_typed():
    assert refusal_code(mixed(**HELD)) == "container_on_hold"
    with pytest.raises(DomainError) as caught:
        lifecycle.ensure_drawable(mixed(**HELD), Treatment(), NOW)
    assert caught.value.code == "container_on_hold"
    assert "11 to 14 °C" in caught.value.message
    assert caught.value.details["container_id"] == 7


def test_a_sealed_powder_on_hold_is_refused_at_scan_time_rather_than_offered_for_mixing():
    assert refusal_code(Container(**HELD)) == "container_on_hold"


def test_a_container_on_hold_is_not_fit_for_a_kit_and_released_it_is_again():
    held = mixed(**HELD)
    with pytest.raises(DomainError) as caught:
        lifecycle.ensure_fit_for_kit(held, NOW)
    assert caught.value.code == "container_on_hold"
    assert caught.value.message.endswith("Do not put it into a kit until a safety lead releases it.")
    held.on_hold_since, held.hold_reason = None, None
    lifecycle.ensure_fit_for_kit(held, NOW)
    assert refusal_code(held) is None


def test_a_hold_does_not_hide_a_worse_refusal_of_its_lot():
    held = mixed(**HELD)
    held.lot.status = LotStatus.RECALLED
    assert refusal_code(held) == "lot_recalled"


def test_a_vial_mixed_to_a_recurring_concentration_is_drawn_to_its_last_ml():
    """QA: 100 U in 3 mL (33.3333 U/mL): six doses of 0.5 mL, each rounded to 16.6667 U, left 16.6665 U for the
    sixth, which was refused for 0.0002 U although 0.5 mL was in the vial."""
    vial = mixed(concentration_u_per_ml=Decimal("33.3333"))
    for _ in range(5):
        dose = lifecycle.dose(vial, Decimal("0.5"), "mL")
        assert dose.quantity == Decimal("16.6667")
        vial.remaining -= dose.quantity
    assert vial.remaining == Decimal("16.6665")
    last = lifecycle.dose(vial, Decimal("0.5"), "mL")
    assert last == lifecycle.Dose(Decimal("16.6665"), Decimal("0.5"), Decimal("33.3333"), "mL")
    lifecycle.ensure_enough(vial, last.quantity)  # not refused
    # More than what is left is still refused, by the mL as by the units.
    with pytest.raises(DomainError) as refused:
        lifecycle.ensure_enough(vial, lifecycle.dose(vial, Decimal("0.5001"), "mL").quantity)
    assert refused.value.code == "insufficient_quantity"
