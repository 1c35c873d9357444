"""The cart's rules through the service: reconstitution, draws, waste, closing, corrections."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from inventory.models import (
    AuditEvent,
    Container,
    ContainerState,
    Draw,
    LotStatus,
    Movement,
    MovementKind,
    Patient,
    User,
)
from inventory.cart import service as cart
from inventory.services.permissions import Scope
from tests import factories
from tests.factories import NOW, World, reconstitute, refusal, start_treatment

HOUR = dt.timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


# --- helpers ----------------------------------------------------------------------

# The shared cart helpers on this module's timeline: vials are received and opened at NOW, doses and waste come an
# hour later, the treatment closes at +2 h and corrections are made at +3 h.
draw = partial(factories.draw, at=NOW + HOUR)
waste = partial(factories.waste, at=NOW + HOUR)
close = partial(factories.close_treatment, at=NOW + 2 * HOUR)
reverse = partial(factories.reverse, at=NOW + 3 * HOUR)


def nurse_of(world: World) -> User:
    return world.users["nurse"]


def vial(world: World, product: str = "botox", diluent_ml: str = "2.5", *, at: dt.datetime = NOW,
         **receive: Any) -> Container:
    """A received and reconstituted vial."""
    return reconstitute(world, world.container(product, **receive), diluent_ml, at=at)


def movements_of(session, container: Container) -> list[Movement]:
    return list(session.scalars(select(Movement).where(Movement.container_id == container.id).order_by(Movement.id)))


def snapshot(session, container: Container) -> tuple:
    """What a refused operation must leave exactly as it was (autoflush counts anything pending)."""
    return (
        session.scalar(select(func.count(Movement.id))),
        session.scalar(select(func.count(Draw.id))),
        session.scalar(select(func.count(AuditEvent.id))),
        container.remaining,
        container.state,
        container.patient_id,
        container.opened_treatment_id,
        container.reconstituted_at,
    )


# --- reconstitution -------------------------------------------------------------------


def test_reconstituting_100_u_in_2_5_ml_gives_40_u_per_ml_usable_for_24_hours(world, session):
    container = vial(world, "botox", "2.5", at=NOW)
    assert container.concentration_u_per_ml == Decimal("40")
    assert container.diluent_ml == Decimal("2.5")
    assert container.reconstituted_at == NOW
    assert container.beyond_use_at == NOW + dt.timedelta(hours=24)
    assert container.state is ContainerState.IN_USE
    assert container.remaining == Decimal("100")


def test_a_vials_label_scanned_into_the_diluent_lot_reconstitutes_nothing(world, session):
    """The scanner types into the focused field: a label in the diluent's lot would start the beyond-use clock of
    a vial nobody mixed. Refused on the server too, whatever the page's script did."""
    sealed, other = world.container("botox"), world.container("botox", lot="C4120A1")
    error = refusal(lambda: reconstitute(world, sealed, "2.5", diluent_lot=other.label_code))
    assert error.code == "validation_error" and error.details["field"] == "diluent_lot"
    assert f"{other.label_code} is a vial's Vialog label" in error.message
    session.refresh(sealed)
    assert sealed.reconstituted_at is None and sealed.diluent_lot is None


def test_the_diluent_boxs_gs1_code_gives_its_lot(world):
    code = "(01)03612340000014(17)280331(10)NS5521"  # a saline box, scanned into the diluent's lot
    assert reconstitute(world, world.container("botox"), "2.5", diluent_lot=code).diluent_lot == "NS5521"
    error = refusal(lambda: reconstitute(world, world.container("botox", lot="C4120A1"), "2.5",
                                         diluent_lot="(01)03612340000014(17)280331"))
    assert error.details["field"] == "diluent_lot" and "carries no lot" in error.message


def test_daxxify_in_1_2_ml_gives_83_3333_u_per_ml_usable_for_72_hours(world):
    container = vial(world, "daxxify", "1.2", at=NOW)
    assert container.concentration_u_per_ml == Decimal("83.3333")
    assert container.beyond_use_at == NOW + dt.timedelta(hours=72)


def test_reconstitution_records_who_and_the_diluent_defaulting_to_the_labelled_one(world):
    container = reconstitute(world, world.container("botox"), "2.5", diluent_lot="NS5521")
    assert container.reconstituted_by_id == nurse_of(world).id
    assert container.diluent_name == "preservative-free 0.9% sodium chloride"
    assert container.diluent_lot == "NS5521"
    other = reconstitute(world, world.container("botox", lot="C4120A1"), "1", diluent_name="bacteriostatic saline")
    assert other.diluent_name == "bacteriostatic saline"
    assert other.concentration_u_per_ml == Decimal("100")


def test_reconstitution_appears_in_the_history_as_a_movement_of_nothing(world, session):
    container = vial(world)
    kinds = [(m.kind, m.quantity, m.balance_after) for m in movements_of(session, container)]
    assert kinds == [
        (MovementKind.RECEIVE, Decimal("100"), Decimal("100")),
        (MovementKind.RECONSTITUTE, Decimal("0"), Decimal("100")),
    ]


@pytest.mark.parametrize("diluent_ml", ["0.5", "10", "2.5", "0.63"])
def test_diluent_volumes_from_0_5_to_10_ml_are_accepted(world, diluent_ml):
    container = vial(world, "botox", diluent_ml)
    assert container.diluent_ml == Decimal(diluent_ml)
    assert container.concentration_u_per_ml == (Decimal(100) / Decimal(diluent_ml)).quantize(Decimal("0.0001"))


@pytest.mark.parametrize("diluent_ml", ["0.49", "10.01", "0", "-2.5", "2.50001"])
def test_diluent_volumes_outside_0_5_to_10_ml_are_refused_as_typos(world, session, diluent_ml):
    container = world.container("botox")
    before = snapshot(session, container)
    error = refusal(lambda: reconstitute(world, container, diluent_ml))
    assert error.code == "validation_error" and error.details["field"] == "diluent_ml"
    assert snapshot(session, container) == before


def test_a_filler_is_never_reconstituted(world):
    error = refusal(lambda: reconstitute(world, world.container("filler")))
    assert error.code == "wrong_product_kind"


def test_a_vial_is_reconstituted_once(world, session):
    container = vial(world)
    before = snapshot(session, container)
    error = refusal(lambda: reconstitute(world, container, "1.0"))
    assert error.code == "already_reconstituted"
    assert container.concentration_u_per_ml == Decimal("40")
    assert snapshot(session, container) == before


def test_an_empty_or_discarded_vial_is_not_reconstituted(world):
    container = world.container("botox")
    waste(world, container, "dropped", at=NOW)
    assert container.state is ContainerState.DISCARDED
    assert refusal(lambda: reconstitute(world, container)).code == "container_empty"


@pytest.mark.parametrize(
    ("status", "code"), [(LotStatus.QUARANTINED, "lot_quarantined"), (LotStatus.RECALLED, "lot_recalled")]
)
def test_a_quarantined_or_recalled_lot_is_not_reconstituted(world, session, status, code):
    container = world.container("botox")
    container.lot.status = status
    session.flush()
    before = snapshot(session, container)
    assert refusal(lambda: reconstitute(world, container)).code == code
    assert snapshot(session, container) == before


def test_an_expired_lot_is_not_reconstituted(world):
    container = world.container("botox", expiry=dt.date(2026, 6, 15))
    error = refusal(lambda: reconstitute(world, container, at=NOW + dt.timedelta(days=1)))
    assert error.code == "lot_expired"


def test_another_clinics_vial_is_not_found_for_reconstitution(world):
    nyc = world.container("botox", location=world.location("Fridge", world.other_clinic))
    error = refusal(lambda: cart.reconstitute(
        world.session, actor=nurse_of(world), scope=Scope.for_user(nurse_of(world)), container_id=nyc.id,
        diluent_ml=Decimal("2.5"), now=NOW,
    ))
    assert error.code == "not_found"
    assert nyc.reconstituted_at is None


# --- patients and treatments ---------------------------------------------------------------


def test_a_patient_is_found_by_the_clinics_reference_or_added_once(world, session):
    scope = Scope.for_user(nurse_of(world))
    first = cart.find_or_create_patient(
        session, scope=scope, clinic_id=world.clinic.id, external_ref=" MRN-7 ", name="Ada Lovelace",
        date_of_birth=dt.date(1985, 12, 10),
    )
    again = cart.find_or_create_patient(session, scope=scope, clinic_id=None, external_ref="MRN-7")
    assert again is first and first.external_ref == "MRN-7" and first.name == "Ada Lovelace"
    assert first.clinic_id == world.clinic.id
    nyc = cart.find_or_create_patient(
        session, scope=Scope.everything(), clinic_id=world.other_clinic.id, external_ref="MRN-7", name="Someone Else",
    )
    assert nyc.id != first.id
    assert [p.id for p in cart.find_patients(session, scope=scope, external_ref="MRN-7")] == [first.id]


def test_a_new_patient_needs_a_name(world):
    error = refusal(lambda: cart.find_or_create_patient(
        world.session, scope=Scope.for_user(nurse_of(world)), clinic_id=world.clinic.id, external_ref="MRN-9",
    ))
    assert error.code == "validation_error" and error.details["field"] == "name"


def test_a_vials_label_or_a_boxs_barcode_scanned_into_the_patient_field_makes_no_patient(world, session):
    """The scanner types into the focused field: a vial scanned before the treatment starts lands in the patient's
    reference. Refused with what it is, whether or not a name was typed; a bare number stays a reference."""
    scope = Scope.for_user(nurse_of(world))
    vial = world.container("botox")
    before = session.scalar(select(func.count(Patient.id)))
    cases = {
        vial.label_code.lower(): "is a vial's Vialog label",
        f"]d201{world.botox.gtins[0].gtin}17280331" + "10C3709C3": "is a box's barcode",
        f"(01){world.botox.gtins[0].gtin}(17)280331(10)C3709C3": "is a box's barcode",
    }
    for ref, says in cases.items():
        for name in (None, "Ada Lovelace"):
            error = refusal(lambda: cart.find_or_create_patient(
                session, scope=scope, clinic_id=None, external_ref=ref, name=name))
            assert error.code == "validation_error" and error.details["field"] == "external_ref", ref
            assert says in error.message, error.message
    assert session.scalar(select(func.count(Patient.id))) == before
    for ref in ("MRN-4471", "03612340000991"):  # a bare number is a patient's reference, even a valid GTIN
        assert cart.find_or_create_patient(session, scope=scope, clinic_id=None, external_ref=ref, name="Ada").id
    # ... unless the catalog knows it: a product's own barcode, scanned off a vial or a box.
    for ref in (world.botox.gtins[0].gtin, world.botox.gtins[0].gtin.lstrip("0")):
        error = refusal(lambda: cart.find_or_create_patient(
            session, scope=scope, clinic_id=None, external_ref=ref, name="Nora Test"))
        assert error.details["field"] == "external_ref" and "is a box's barcode" in error.message, ref


def test_a_vials_label_or_a_boxs_barcode_typed_into_the_name_makes_no_patient(world, session):
    """QA: a slower scanner's label typed into Name (the focus moved there) made a patient called VLWAD77FXZ, who
    would stand on a recall's notification list. Refused as the reference is; a name is never a code."""
    scope = Scope.for_user(nurse_of(world))
    vial = world.container("botox")
    before = session.scalar(select(func.count(Patient.id)))
    cases = {
        vial.label_code: f"{vial.label_code} is a vial's Vialog label, not the patient's name. Type the patient's "
                         "name first, then scan the vial once the treatment has started.",
        f"]d201{world.botox.gtins[0].gtin}17280331" + "10C3709C3":
            "That is a box's barcode, not the patient's name. Type the patient's name.",
        world.botox.gtins[0].gtin: "That is a box's barcode, not the patient's name. Type the patient's name.",
    }
    for name, says in cases.items():
        error = refusal(lambda: cart.find_or_create_patient(
            session, scope=scope, clinic_id=None, external_ref="MRN-7781", name=name))
        assert (error.code, error.details["field"], error.message) == ("validation_error", "name", says)
    assert session.scalar(select(func.count(Patient.id))) == before
    assert cart.find_or_create_patient(session, scope=scope, clinic_id=None, external_ref="MRN-7781",
                                       name="Ada Lovelace").name == "Ada Lovelace"


def test_a_reference_that_differs_only_in_case_or_separators_is_refused_not_split(world, session):
    scope = Scope.for_user(nurse_of(world))
    amelia = cart.find_or_create_patient(session, scope=scope, clinic_id=None, external_ref="P-1001",
                                         name="Amelia Hart")
    before = session.scalar(select(func.count(Patient.id)))
    for lookalike in ("p-1001", "P 1001", "P1001", "p.1001"):
        error = refusal(lambda: cart.find_or_create_patient(
            session, scope=scope, clinic_id=None, external_ref=lookalike, name="Amelia Hart"))
        assert error.code == "patient_ref_conflict" and error.details["patient_id"] == amelia.id
        assert "looks like P-1001" in error.message
    assert session.scalar(select(func.count(Patient.id))) == before
    assert cart.find_or_create_patient(session, scope=scope, clinic_id=None, external_ref="P-10011",
                                       name="Another Patient").id != amelia.id


def test_a_reference_on_file_under_another_name_is_refused_not_reused(world):
    scope = Scope.for_user(nurse_of(world))
    cart.find_or_create_patient(world.session, scope=scope, clinic_id=None, external_ref="MRN-1", name="Ada Lovelace")
    same = cart.find_or_create_patient(world.session, scope=scope, clinic_id=None, external_ref="MRN-1",
                                       name="ada  LOVELACE")
    assert same.name == "Ada Lovelace"
    error = refusal(lambda: cart.find_or_create_patient(
        world.session, scope=scope, clinic_id=None, external_ref="MRN-1", name="Grace Hopper",
    ))
    assert error.code == "patient_ref_conflict"


def test_a_caller_of_several_clinics_says_which_clinic_and_others_are_not_found(world):
    error = refusal(lambda: cart.find_or_create_patient(
        world.session, scope=Scope.everything(), clinic_id=None, external_ref="MRN-2", name="Ada",
    ))
    assert error.code == "validation_error" and error.details["field"] == "clinic_id"
    error = refusal(lambda: cart.find_or_create_patient(
        world.session, scope=Scope.for_user(nurse_of(world)), clinic_id=world.other_clinic.id,
        external_ref="MRN-2", name="Ada",
    ))
    assert error.code == "not_found"


def test_a_treatment_starts_for_a_patient_in_a_room_of_the_same_clinic(world):
    treatment = start_treatment(world, "P-1")
    assert treatment.clinic_id == world.clinic.id and treatment.started_at == NOW
    assert treatment.injector_id == nurse_of(world).id and not treatment.is_closed
    nyc_patient = cart.find_or_create_patient(
        world.session, scope=Scope.everything(), clinic_id=world.other_clinic.id, external_ref="N-1", name="N",
    )
    manager = world.users["manager"]
    error = refusal(lambda: cart.start_treatment(
        world.session, actor=manager, scope=Scope.for_user(manager), patient_id=nyc_patient.id,
        location_id=world.location("Room 1").id, now=NOW,
    ))
    assert error.code == "validation_error"
    error = refusal(lambda: cart.start_treatment(
        world.session, actor=nurse_of(world), scope=Scope.for_user(nurse_of(world)), patient_id=nyc_patient.id,
        location_id=world.location("Room 1", world.other_clinic).id, now=NOW,
    ))
    assert error.code == "not_found"


def test_open_treatments_are_the_callers_newest_first_with_their_patient(world, session):
    older = start_treatment(world, "P-1", at=NOW)
    newer = start_treatment(world, "P-2", at=NOW + HOUR)
    closed = start_treatment(world, "P-3", at=NOW + 2 * HOUR)
    close(world, closed)
    start_treatment(world, "N-1", user=world.users["other_nurse"], clinic=world.other_clinic)
    listed = cart.open_treatments(session, scope=Scope.for_user(nurse_of(world)))
    assert [t.id for t in listed] == [newer.id, older.id]
    assert listed[0].patient.external_ref == "P-2"
    room = cart.open_treatments(session, scope=Scope.for_user(nurse_of(world)),
                                location_id=world.location("Cart").id)
    assert room == []


# --- draws: units -------------------------------------------------------------------------


def test_a_tenth_of_a_ml_at_40_u_per_ml_draws_4_units_and_stores_both(world):
    container = vial(world, "botox", "2.5")
    treatment = start_treatment(world)
    result = draw(world, treatment, container, "0.1", "mL")
    assert result.draw.quantity == Decimal("4")
    assert result.draw.quantity_ml == Decimal("0.1")
    assert result.draw.concentration_u_per_ml == Decimal("40")
    assert result.draw.entered_unit == "mL"
    assert container.remaining == Decimal("96")
    assert result.warnings == []


def test_a_draw_entered_in_units_stores_the_ml_it_took(world):
    container = vial(world, "botox", "2.5")
    result = draw(world, start_treatment(world), container, "20", "U")
    assert (result.draw.quantity, result.draw.quantity_ml, result.draw.entered_unit) == (
        Decimal("20"), Decimal("0.5"), "U"
    )


def test_daxxify_ml_draws_round_to_four_decimals(world):
    container = vial(world, "daxxify", "1.2")
    treatment = start_treatment(world)
    assert draw(world, treatment, container, "0.1", "mL").draw.quantity == Decimal("8.3333")
    assert draw(world, treatment, container, "8", "U").draw.quantity_ml == Decimal("0.096")


def test_a_filler_is_drawn_in_ml_only(world, session):
    syringe = world.container("filler")
    treatment = start_treatment(world)
    result = draw(world, treatment, syringe, "0.2", "ml", area="lip")
    assert (result.draw.quantity, result.draw.quantity_ml, result.draw.concentration_u_per_ml) == (
        Decimal("0.2"), Decimal("0.2"), None
    )
    assert syringe.remaining == Decimal("0.35")
    before = snapshot(session, syringe)
    error = refusal(lambda: draw(world, treatment, syringe, "4", "U", area="lip"))
    assert error.code == "validation_error" and error.details["accepted"] == ["mL"]
    assert "mL" in error.message
    assert snapshot(session, syringe) == before


def test_hyaluronidase_is_drawn_in_its_own_units_or_ml_at_its_strength(world):
    hylenex = world.container("hylenex")
    treatment = start_treatment(world)
    in_ml = draw(world, treatment, hylenex, "0.5", "mL", area="nasolabial", reason="emergency")
    assert (in_ml.draw.quantity, in_ml.draw.concentration_u_per_ml) == (Decimal("75"), Decimal("150"))
    in_usp = draw(world, treatment, hylenex, "30", "USP U", area="nasolabial", reason="emergency")
    assert (in_usp.draw.quantity_ml, in_usp.draw.entered_unit) == (Decimal("0.2"), "USP U")
    in_u = draw(world, treatment, hylenex, "15", "U", area="nasolabial", reason="emergency")
    assert in_u.draw.quantity == Decimal("15") and hylenex.remaining == Decimal("30")
    assert refusal(lambda: draw(world, treatment, hylenex, "1", "IU", area="nasolabial")).code == "validation_error"


def test_a_supply_is_drawn_in_its_base_unit(world):
    syringe = world.container("syringe")
    treatment = start_treatment(world)
    assert refusal(lambda: draw(world, treatment, syringe, "1", "U", area="other", area_detail="kit")).code == (
        "validation_error"
    )
    result = draw(world, treatment, syringe, "1", "each", area="other", area_detail="kit")
    assert result.draw.quantity == Decimal("1") and syringe.state is ContainerState.EMPTY


@pytest.mark.parametrize("quantity", ["0", "-4", "0.00001", "1E+9"])
def test_a_draw_quantity_is_above_zero_with_at_most_four_decimals(world, session, quantity):
    container = vial(world)
    treatment = start_treatment(world)
    before = snapshot(session, container)
    error = refusal(lambda: draw(world, treatment, container, quantity))
    assert error.code == "validation_error" and error.details["field"] == "quantity"
    assert snapshot(session, container) == before


def test_a_draw_area_comes_from_the_list_and_other_needs_a_description(world):
    container = vial(world)
    treatment = start_treatment(world)
    assert refusal(lambda: draw(world, treatment, container, "4", area="elbow")).details["field"] == "area"
    assert refusal(lambda: draw(world, treatment, container, "4", area="other")).details["field"] == "area_detail"
    result = draw(world, treatment, container, "4", area="other", area_detail="nasalis")
    assert (result.draw.area, result.draw.area_detail) == ("other", "nasalis")
    assert len(cart.AREAS) == 21 and ("dao", "Depressor anguli oris (DAO)") in cart.AREAS


def test_an_emergency_draw_is_marked_on_the_movement_and_the_draw(world, session):
    hylenex = world.container("hylenex")
    treatment = start_treatment(world)
    result = draw(world, treatment, hylenex, "150", "USP U", area="nasolabial", reason="emergency")
    movement = session.get(Movement, result.draw.movement_id)
    assert (movement.kind, movement.reason, result.draw.reason) == (MovementKind.DRAW, "emergency", "emergency")
    assert refusal(lambda: draw(world, treatment, vial(world), "4", reason="because")).code == "validation_error"


def test_a_draw_is_a_negative_draw_movement_linked_to_its_treatment_and_draw_row(world, session):
    container = vial(world)
    treatment = start_treatment(world)
    result = draw(world, treatment, container, "20", at=NOW + HOUR)
    movement = session.get(Movement, result.draw.movement_id)
    assert movement.kind is MovementKind.DRAW
    assert (movement.quantity, movement.balance_after) == (Decimal("-20"), Decimal("80"))
    assert movement.treatment_id == treatment.id and movement.actor_id == nurse_of(world).id
    assert movement.at == NOW + HOUR and movement.reason is None
    assert result.draw.injector_id == nurse_of(world).id
    assert result.draw.treatment_id == treatment.id and result.draw.container_id == container.id


# --- draws: refusals ----------------------------------------------------------------------------


def test_drawing_more_than_remains_is_refused_never_clamped(world, session):
    container = vial(world)
    treatment = start_treatment(world)
    draw(world, treatment, container, "90", area="masseter_left")  # outside the label's session maximum
    before = snapshot(session, container)
    error = refusal(lambda: draw(world, treatment, container, "10.0001"))
    assert error.code == "insufficient_quantity"
    assert Decimal(error.details["remaining"]) == Decimal("10")
    assert Decimal(error.details["requested"]) == Decimal("10.0001")
    assert snapshot(session, container) == before
    draw(world, treatment, container, "10")
    assert container.remaining == 0 and container.state is ContainerState.EMPTY
    assert refusal(lambda: draw(world, treatment, container, "1")).code == "container_empty"


def test_a_closed_treatment_takes_no_draws(world, session):
    container = vial(world)
    treatment = start_treatment(world)
    close(world, treatment)
    other = vial(world, lot="C4120A1")
    before = snapshot(session, other)
    assert refusal(lambda: draw(world, treatment, other, "4", at=NOW + 3 * HOUR)).code == "treatment_closed"
    assert snapshot(session, other) == before
    # Nothing was drawn from the first vial in this treatment, so closing left it alone.
    assert container.remaining == 100 and container.state is ContainerState.IN_USE


def test_another_clinics_treatment_or_container_is_not_found(world):
    """Another clinic's treatment is not found; its vial answers as an unknown scanned container does
    (the same answer, with the same message, as for an id that names nothing)."""
    lon_vial = vial(world)
    nyc_vial = vial(world, location=world.location("Fridge", world.other_clinic), lot="NY1")
    lon_treatment = start_treatment(world)
    nyc_treatment = start_treatment(world, "N-1", user=world.users["other_nurse"], clinic=world.other_clinic)
    assert refusal(lambda: draw(world, nyc_treatment, lon_vial, "4")).code == "not_found"
    hidden = refusal(lambda: draw(world, lon_treatment, nyc_vial, "4"))
    assert hidden.code == "unknown_container" and hidden.message == f"No container with id {nyc_vial.id}."
    missing = refusal(lambda: draw(world, lon_treatment, SimpleNamespace(id=2**31 - 2), "4"))
    assert missing.code == "unknown_container" and missing.message == f"No container with id {2**31 - 2}."
    assert nyc_vial.remaining == 100


def test_a_chain_manager_cannot_draw_one_clinics_vial_into_another_clinics_treatment(world):
    nyc_vial = vial(world, location=world.location("Fridge", world.other_clinic))
    treatment = start_treatment(world, user=world.users["manager"])
    error = refusal(lambda: draw(world, treatment, nyc_vial, "4", user=world.users["manager"]))
    assert error.code == "unknown_container"
    assert nyc_vial.remaining == 100


@pytest.mark.parametrize(
    ("status", "code"), [(LotStatus.QUARANTINED, "lot_quarantined"), (LotStatus.RECALLED, "lot_recalled")]
)
def test_a_quarantined_or_recalled_lot_is_not_drawn(world, session, status, code):
    container = vial(world)
    treatment = start_treatment(world)
    container.lot.status = status
    session.flush()
    before = snapshot(session, container)
    assert refusal(lambda: draw(world, treatment, container, "4")).code == code
    assert snapshot(session, container) == before


def test_expiry_holds_through_the_last_day_in_the_clinics_time_zone(world):
    # London is on BST in June: 22:59 UTC is 23:59 on the 15th, 23:00 UTC is already the 16th.
    container = vial(world, expiry=dt.date(2026, 6, 15), at=NOW)
    treatment = start_treatment(world)
    last_minute = dt.datetime(2026, 6, 15, 22, 59, tzinfo=dt.UTC)
    assert draw(world, treatment, container, "4", at=last_minute).draw.quantity == 4
    next_day = dt.datetime(2026, 6, 15, 23, 0, tzinfo=dt.UTC)
    assert refusal(lambda: draw(world, treatment, container, "4", at=next_day)).code == "lot_expired"


def test_expiry_in_new_york_follows_new_york_time(world):
    nyc_nurse = world.users["other_nurse"]
    container = vial(world, expiry=dt.date(2026, 6, 15), location=world.location("Fridge", world.other_clinic))
    treatment = start_treatment(world, "N-1", user=nyc_nurse, clinic=world.other_clinic)
    # 03:30 UTC on the 16th is still 23:30 on the 15th in New York.
    late_evening = dt.datetime(2026, 6, 16, 3, 30, tzinfo=dt.UTC)
    assert draw(world, treatment, container, "4", at=late_evening, user=nyc_nurse).draw.quantity == 4
    assert refusal(lambda: draw(world, treatment, container, "4", at=late_evening + HOUR, user=nyc_nurse)).code == (
        "lot_expired"
    )


def test_a_toxin_is_not_drawn_before_reconstitution(world, session):
    powder = world.container("botox")
    treatment = start_treatment(world)
    before = snapshot(session, powder)
    assert refusal(lambda: draw(world, treatment, powder, "4")).code == "not_reconstituted"
    assert refusal(lambda: draw(world, treatment, powder, "0.1", "mL")).code == "not_reconstituted"
    assert snapshot(session, powder) == before


def test_beyond_use_refuses_a_draw_from_the_exact_instant(world, session):
    container = vial(world, at=NOW)
    treatment = start_treatment(world)
    just_before = NOW + dt.timedelta(hours=24) - dt.timedelta(microseconds=1)
    assert draw(world, treatment, container, "4", at=just_before).draw.quantity == 4
    before = snapshot(session, container)
    error = refusal(lambda: draw(world, treatment, container, "4", at=NOW + dt.timedelta(hours=24)))
    assert error.code == "beyond_use"
    assert snapshot(session, container) == before


# --- draws: single-patient use -------------------------------------------------------------------


def test_the_first_draw_binds_a_single_patient_vial_to_its_patient_and_treatment(world):
    container = vial(world)
    treatment = start_treatment(world)
    draw(world, treatment, container, "4", at=NOW + HOUR)
    assert container.patient_id == treatment.patient_id
    assert container.opened_treatment_id == treatment.id
    assert container.opened_at == NOW + HOUR
    draw(world, treatment, container, "4", at=NOW + 2 * HOUR)
    assert container.opened_at == NOW + HOUR and container.remaining == 92


def test_a_toxin_vial_opened_for_one_patient_is_refused_for_another(world, session):
    container = vial(world)
    draw(world, start_treatment(world, "A"), container, "20")
    other = start_treatment(world, "B")
    before = snapshot(session, container)
    error = refusal(lambda: draw(world, other, container, "4"))
    assert error.code == "container_other_patient"
    assert "Patient A" not in error.message  # never name the other patient
    assert snapshot(session, container) == before


def test_a_toxin_vial_belongs_to_one_session_even_of_the_same_patient(world):
    container = vial(world)
    first = start_treatment(world, "A", at=NOW)
    draw(world, first, container, "20")
    later = start_treatment(world, "A", at=NOW + 3 * HOUR)
    error = refusal(lambda: draw(world, later, container, "4", at=NOW + 4 * HOUR))
    assert error.code == "container_other_patient"
    assert "earlier session" in error.message


def test_a_multi_patient_toxin_serves_any_patient_within_beyond_use(world, session):
    world.botox.is_multi_patient = True
    session.flush()
    container = vial(world, at=NOW)
    draw(world, start_treatment(world, "A"), container, "20")
    draw(world, start_treatment(world, "B"), container, "20", at=NOW + 5 * HOUR)
    assert container.patient_id is None and container.remaining == 60
    late = start_treatment(world, "C")
    assert refusal(lambda: draw(world, late, container, "4", at=NOW + 24 * HOUR)).code == "beyond_use"


def test_a_single_dose_hyaluronidase_vial_serves_one_patient_pulse_after_pulse(world, session):
    """DOMAIN.md: hourly pulses for the same patient draw from the opened vial again; nobody else may,
    and what is left is wasted when that treatment closes."""
    hylenex = world.container("hylenex")
    rescue = start_treatment(world, "A")
    for pulse in range(3):
        draw(world, rescue, hylenex, "30", "USP U", area="other", area_detail="nasal ala", at=NOW + pulse * HOUR)
    assert (hylenex.patient_id, hylenex.remaining) == (rescue.patient_id, 60)
    other = start_treatment(world, "B")
    before = snapshot(session, hylenex)
    error = refusal(lambda: draw(world, other, hylenex, "10", "USP U", area="other", area_detail="lip"))
    assert error.code == "container_other_patient"
    assert snapshot(session, hylenex) == before
    closed = cart.close_treatment(session, actor=world.users["nurse"], scope=Scope.everything(),
                                  treatment_id=rescue.id, now=NOW + 3 * HOUR)
    assert [m.container_id for m in closed.wasted] == [hylenex.id] and hylenex.state is ContainerState.DISCARDED


def test_a_ready_to_use_liquid_toxin_counts_its_in_use_time_from_the_first_puncture(world, session):
    """Alluzience is never reconstituted: the first draw starts its 24 hours."""
    world.products["alluzience"] = factories.make_product(session, "Alluzience 125 s.U")
    liquid = world.container("alluzience")
    assert liquid.beyond_use_at is None
    treatment = start_treatment(world, "A")
    draw(world, treatment, liquid, "0.1", "mL", at=NOW + HOUR)  # 200 s.U/mL on the label
    assert liquid.beyond_use_at == NOW + 25 * HOUR
    assert liquid.remaining == Decimal(105)
    assert refusal(lambda: draw(world, treatment, liquid, "10", "s.U", at=NOW + 25 * HOUR)).code == "beyond_use"


def test_a_filler_opened_for_patient_a_is_refused_for_patient_b(world, session):
    syringe = world.container("filler")
    draw(world, start_treatment(world, "A"), syringe, "0.2", "mL", area="lip")
    assert syringe.state is ContainerState.IN_USE and syringe.patient_id is not None
    error = refusal(lambda: draw(world, start_treatment(world, "B"), syringe, "0.1", "mL", area="lip"))
    assert error.code == "container_other_patient"
    assert syringe.remaining == Decimal("0.35")


def test_without_a_hold_policy_a_filler_is_refused_in_a_later_session(world):
    assert world.clinic.filler_hold_days == 0
    syringe = world.container("filler")
    first = start_treatment(world, "A")
    draw(world, first, syringe, "0.2", "mL", area="lip")
    later = start_treatment(world, "A", at=NOW + 3 * HOUR)
    assert refusal(lambda: draw(world, later, syringe, "0.1", "mL", area="lip",
                                at=NOW + 4 * HOUR)).code == "container_other_patient"


def test_a_held_filler_serves_the_same_patient_until_the_hold_ends(world, session):
    world.clinic.filler_hold_days = 14
    session.flush()
    syringe = world.container("filler")
    first = start_treatment(world, "A")
    draw(world, first, syringe, "0.2", "mL", area="lip", at=NOW + HOUR)
    closed = close(world, first)
    assert closed.held == [syringe] and closed.wasted == []
    assert syringe.state is ContainerState.IN_USE and syringe.remaining == Decimal("0.35")

    touch_up = start_treatment(world, "A", at=NOW + dt.timedelta(days=7))
    draw(world, touch_up, syringe, "0.1", "mL", area="lip", at=NOW + dt.timedelta(days=7))
    assert syringe.remaining == Decimal("0.25")
    assert refusal(lambda: draw(world, start_treatment(world, "B"), syringe, "0.1", "mL", area="lip",
                                at=NOW + dt.timedelta(days=7))).code == "container_other_patient"
    hold_over = NOW + HOUR + dt.timedelta(days=14)
    assert refusal(lambda: draw(world, start_treatment(world, "A", at=hold_over), syringe, "0.1", "mL", area="lip",
                                at=hold_over)).code == "container_other_patient"
    # The touch-up closes after the hold ended: the syringe is wasted now.
    closed = close(world, touch_up, at=hold_over)
    assert [m.container_id for m in closed.wasted] == [syringe.id] and closed.held == []
    assert syringe.state is ContainerState.DISCARDED


def test_totals_are_per_molecule_across_vial_sizes_and_never_across_molecules(world):
    treatment = start_treatment(world)
    first, second = vial(world), vial(world, lot="C4120A1")
    assert draw(world, treatment, first, "24").warnings == []
    assert draw(world, treatment, second, "24", area="forehead").warnings == []
    assert draw(world, treatment, second, "16", area="crows_feet_left").warnings == []
    # 64 U of onabotulinumtoxinA from two vials: at the label's maximum; 2 U more needs a confirmation.
    needed = refusal(lambda: draw(world, treatment, second, "2", area="crows_feet_right"))
    assert needed.code == "confirmation_required"
    assert [w["code"] for w in needed.details["warnings"]] == ["above_label_max"]
    assert "66 U of onabotulinumtoxinA this session" in needed.details["warnings"][0]["message"]
    result = draw(world, treatment, second, "2", area="crows_feet_right", confirm=["above_label_max"],
                  confirm_reason="asymmetry, reviewed with the patient")
    assert result.draw.confirmed_warnings == "above_label_max"
    assert result.draw.confirm_reason == "asymmetry, reviewed with the patient"
    # Another molecule's units are never added in.
    assert draw(world, treatment, vial(world, "dysport", lot="DY1"), "50", area="glabella").warnings == []


# --- waste ---------------------------------------------------------------------------------------


def test_waste_without_a_quantity_takes_everything_left_and_discards_the_container(world, session):
    container = vial(world)
    draw(world, start_treatment(world), container, "20")
    movement = waste(world, container, "contaminated")
    assert (movement.kind, movement.quantity, movement.balance_after) == (
        MovementKind.WASTE, Decimal("-80"), Decimal("0")
    )
    assert movement.reason == "contaminated" and container.state is ContainerState.DISCARDED
    assert refusal(lambda: waste(world, container, "dropped")).code == "container_empty"


def test_part_of_a_container_can_be_wasted(world):
    container = vial(world)
    movement = waste(world, container, "other", quantity="0.5", note="spilt while drawing up")
    assert movement.quantity == Decimal("-0.5") and movement.note == "spilt while drawing up"
    assert container.remaining == Decimal("99.5") and container.state is ContainerState.IN_USE


def test_a_sealed_powder_vial_is_wasted_whole_never_in_part(world, session):
    """QA: 40 U "wasted" from a sealed Botox vial left it in use at 60 U, and mixing it then reckoned 40 U/mL on
    a vial that held 100 U of powder. A powder vial not yet mixed is wasted whole; a liquid or a syringe in part
    (the dose spilt while drawing it up opens it)."""
    sealed = world.container("botox")
    before = snapshot(session, sealed)
    error = refusal(lambda: waste(world, sealed, "dropped", quantity="40"))
    assert (error.code, error.details["field"]) == ("validation_error", "quantity")
    assert f"({sealed.label_code}) is sealed powder: it is wasted whole (100 U, leave the quantity empty)" \
        in error.message
    assert snapshot(session, sealed) == before
    assert waste(world, sealed, "dropped", quantity="100").balance_after == 0
    syringe = world.container("filler")
    assert waste(world, syringe, "other", quantity="0.05", note="primed").balance_after == Decimal("0.5")
    opened = vial(world)  # reconstituted: what is left is wasted in part
    assert waste(world, opened, "dropped", quantity="40").balance_after == Decimal(60)


@pytest.mark.parametrize(("quantity", "code"), [("100.0001", "insufficient_quantity"), ("0", "validation_error"),
                                                ("-1", "validation_error")])
def test_waste_refuses_more_than_remains_and_nothing_or_less(world, session, quantity, code):
    container = vial(world)
    before = snapshot(session, container)
    assert refusal(lambda: waste(world, container, "dropped", quantity=quantity)).code == code
    assert snapshot(session, container) == before


def test_a_waste_reason_comes_from_the_list_and_other_needs_a_note(world):
    container = vial(world)
    assert refusal(lambda: waste(world, container, "bored")).details["field"] == "reason"
    assert refusal(lambda: waste(world, container, "other")).details["field"] == "note"
    assert container.remaining == 100


def test_a_recalled_lot_is_wasted_by_the_safety_lead_only(world, session):
    """Recalled stock leaves through its recall case: a nurse sets it aside (tests/api/test_set_aside_waste_api.py)."""
    container = vial(world)
    container.lot.status = LotStatus.RECALLED
    session.flush()
    assert refusal(lambda: waste(world, container, "other", note="recall 2026-14")).code == "lot_recalled"
    assert container.remaining == 100
    assert waste(world, container, "other", note="recall 2026-14", user="safety").quantity == Decimal("-100")


def test_no_vacuum_flags_the_lot_for_the_safety_lead(world, session):
    container = world.container("botox")
    movement = waste(world, container, "no_vacuum", at=NOW)
    assert movement.reason == "no_vacuum" and container.state is ContainerState.DISCARDED
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "lot.flagged_no_vacuum"))
    assert event is not None
    assert (event.object_type, event.object_id, event.clinic_id, event.actor_id, event.at) == (
        "lot", str(container.lot_id), world.clinic.id, nurse_of(world).id, NOW
    )
    assert event.details["label_code"] == container.label_code
    other = vial(world, lot="C4120A1")
    waste(world, other, "dropped")
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "lot.flagged_no_vacuum")) == 1


# --- beyond use ---------------------------------------------------------------------------------


def test_beyond_use_containers_are_those_past_their_time_with_something_left(world, session):
    past = vial(world, at=NOW)
    emptied = vial(world, at=NOW, lot="C4120A1")
    waste(world, emptied, "dropped")
    fresh = vial(world, at=NOW + 12 * HOUR, lot="C5000A1")
    nyc = vial(world, at=NOW, location=world.location("Fridge", world.other_clinic), lot="NY1")
    later = NOW + 24 * HOUR
    mine = cart.beyond_use_containers(session, scope=Scope.for_user(nurse_of(world)), now=later)
    assert [c.id for c in mine] == [past.id]
    everywhere = cart.beyond_use_containers(session, scope=Scope.everything(), now=later)
    assert {c.id for c in everywhere} == {past.id, nyc.id}
    assert fresh.id not in {c.id for c in everywhere}
    assert cart.beyond_use_containers(session, scope=Scope.everything(), now=later - dt.timedelta(seconds=1)) == []


def test_waste_beyond_use_wastes_them_all_in_one_step(world, session):
    first, second = vial(world, at=NOW), vial(world, at=NOW + HOUR, lot="C4120A1")
    draw(world, start_treatment(world), first, "30")
    later = NOW + 26 * HOUR
    movements = cart.waste_beyond_use(session, actor=nurse_of(world), scope=Scope.for_user(nurse_of(world)), now=later)
    assert [(m.container_id, m.quantity, m.reason) for m in movements] == [
        (first.id, Decimal("-70"), "beyond_use"), (second.id, Decimal("-100"), "beyond_use")
    ]
    assert first.state is second.state is ContainerState.DISCARDED
    assert cart.beyond_use_containers(session, scope=Scope.everything(), now=later) == []


def test_waste_beyond_use_of_a_named_vial_not_yet_due_wastes_nothing(world, session):
    due, not_due = vial(world, at=NOW), vial(world, at=NOW + 12 * HOUR, lot="C4120A1")
    before = snapshot(session, due)
    error = refusal(lambda: cart.waste_beyond_use(
        session, actor=nurse_of(world), scope=Scope.for_user(nurse_of(world)), now=NOW + 25 * HOUR,
        container_ids=[due.id, not_due.id],
    ))
    assert error.code == "validation_error" and error.details["label_codes"] == [not_due.label_code]
    assert snapshot(session, due) == before
    only_due = cart.waste_beyond_use(
        session, actor=nurse_of(world), scope=Scope.for_user(nurse_of(world)), now=NOW + 25 * HOUR,
        container_ids=[due.id],
    )
    assert [m.container_id for m in only_due] == [due.id]


# --- closing -------------------------------------------------------------------------------------


def test_closing_wastes_a_single_patient_toxin_remainder(world, session):
    container = vial(world)
    untouched = vial(world, lot="C4120A1")
    treatment = start_treatment(world)
    draw(world, treatment, container, "20")
    closed = close(world, treatment, at=NOW + 2 * HOUR)
    assert closed.treatment.closed_at == NOW + 2 * HOUR and closed.treatment.closed_by_id == nurse_of(world).id
    assert [(m.container_id, m.quantity, m.reason, m.treatment_id) for m in closed.wasted] == [
        (container.id, Decimal("-80"), "single_patient_remainder", treatment.id)
    ]
    assert container.state is ContainerState.DISCARDED and container.remaining == 0
    assert untouched.remaining == 100 and untouched.state is ContainerState.IN_USE


def test_closing_wastes_a_filler_remainder_when_the_clinic_holds_none(world):
    syringe = world.container("filler")
    treatment = start_treatment(world)
    draw(world, treatment, syringe, "0.3", "mL", area="lip")
    closed = close(world, treatment)
    assert [(m.container_id, m.quantity) for m in closed.wasted] == [(syringe.id, Decimal("-0.25"))]
    assert closed.held == [] and syringe.state is ContainerState.DISCARDED


def test_closing_leaves_multi_patient_vials_and_emptied_ones_alone(world, session):
    world.botox.is_multi_patient = True
    session.flush()
    shared = vial(world)
    syringe = world.container("filler")
    treatment = start_treatment(world)
    draw(world, treatment, shared, "20")
    draw(world, treatment, syringe, "0.55", "mL", area="lip")
    closed = close(world, treatment)
    assert closed.wasted == [] and closed.held == []
    assert shared.remaining == 80 and shared.state is ContainerState.IN_USE
    assert syringe.state is ContainerState.EMPTY


def test_a_treatment_closes_once_and_only_in_the_callers_clinics(world):
    treatment = start_treatment(world)
    close(world, treatment)
    assert refusal(lambda: close(world, treatment)).code == "treatment_closed"
    nyc = start_treatment(world, "N-1", user=world.users["other_nurse"], clinic=world.other_clinic)
    assert refusal(lambda: close(world, nyc)).code == "not_found"
    assert not nyc.is_closed


# --- corrections ---------------------------------------------------------------------------------


def test_reversing_a_draw_puts_the_quantity_back_and_keeps_the_original(world, session):
    container = vial(world)
    treatment = start_treatment(world)
    draw(world, treatment, container, "4")
    mistaken = draw(world, treatment, container, "40", area="forehead")
    original = session.get(Movement, mistaken.draw.movement_id)
    reversal = reverse(world, original, "typed 40 for 4")
    assert (reversal.kind, reversal.quantity, reversal.balance_after) == (
        MovementKind.REVERSAL, Decimal("40"), Decimal("96")
    )
    assert reversal.reverses_id == original.id and reversal.note == "typed 40 for 4"
    assert reversal.treatment_id == treatment.id
    assert container.remaining == 96
    assert session.get(Movement, original.id).quantity == Decimal("-40")  # the original stays
    assert cart.is_reversed(session, original) and not cart.is_reversed(session, reversal)
    summary = cart.treatment_summary(session, treatment.id, Scope.for_user(nurse_of(world)))
    assert [(line.draw.quantity, line.is_reversed) for line in summary.draws] == [
        (Decimal("4"), False), (Decimal("40"), True)
    ]
    assert [(t.product.name, t.quantity) for t in summary.totals] == [("Botox Cosmetic 100 U", Decimal("4"))]
    # The vial stays bound: the first draw was real.
    assert container.patient_id == treatment.patient_id


def test_a_movement_is_reversed_at_most_once(world, session):
    container = vial(world)
    result = draw(world, start_treatment(world), container, "4")
    original = session.get(Movement, result.draw.movement_id)
    reverse(world, original)
    before = snapshot(session, container)
    error = refusal(lambda: reverse(world, original))
    assert error.code == "already_reversed"
    assert snapshot(session, container) == before
    assert container.remaining == 100


def test_a_reversal_a_receipt_or_a_reconstitution_cannot_be_reversed(world, session):
    container = vial(world)
    result = draw(world, start_treatment(world), container, "4")
    reversal = reverse(world, session.get(Movement, result.draw.movement_id))
    assert refusal(lambda: reverse(world, reversal)).code == "not_reversible"
    receipt, reconstitution = movements_of(session, container)[:2]
    assert refusal(lambda: reverse(world, receipt)).code == "not_reversible"
    assert refusal(lambda: reverse(world, reconstitution)).code == "not_reversible"


def test_a_reversal_needs_a_reason_and_a_movement_of_the_callers_clinics(world, session):
    container = vial(world)
    result = draw(world, start_treatment(world), container, "4")
    original = session.get(Movement, result.draw.movement_id)
    assert refusal(lambda: reverse(world, original, "  ")).code == "validation_error"
    nyc_nurse = world.users["other_nurse"]
    error = refusal(lambda: cart.reverse(
        session, actor=nyc_nurse, scope=Scope.for_user(nyc_nurse), movement_id=original.id, reason="x", now=NOW,
    ))
    assert error.code == "not_found"
    assert not cart.is_reversed(session, original)


def test_reversing_a_waste_brings_the_container_back_into_use(world, session):
    container = vial(world)
    wasted = waste(world, container, "dropped")
    assert container.state is ContainerState.DISCARDED
    reverse(world, wasted, "wrong vial")
    assert container.remaining == 100 and container.state is ContainerState.IN_USE
    sealed = world.container("filler")
    reverse(world, waste(world, sealed, "dropped"), "it was not dropped")
    assert sealed.state is ContainerState.SEALED and sealed.remaining == Decimal("0.55")


def test_reversing_the_only_draw_from_a_syringe_releases_it_from_the_patient(world, session):
    syringe = world.container("filler")
    result = draw(world, start_treatment(world, "A"), syringe, "0.2", "mL", area="lip")
    reverse(world, session.get(Movement, result.draw.movement_id), "scanned the wrong syringe")
    assert (syringe.patient_id, syringe.opened_treatment_id, syringe.opened_at) == (None, None, None)
    assert syringe.state is ContainerState.SEALED and syringe.remaining == Decimal("0.55")
    assert draw(world, start_treatment(world, "B"), syringe, "0.2", "mL", area="lip").container.patient_id is not None


def test_refusals_name_times_on_the_clinics_clock(world):
    container = vial(world, at=NOW)  # 09:30 UTC is 10:30 in London in June
    treatment = start_treatment(world)
    assert "15 Jun 2026 10:30" in refusal(lambda: reconstitute(world, container)).message
    assert "16 Jun 2026 10:30" in refusal(lambda: draw(world, treatment, container, "4", at=NOW + 25 * HOUR)).message
