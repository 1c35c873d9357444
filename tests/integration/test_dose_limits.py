"""The dose checks fed from the database (inventory/services/dose_limits.py): limits per molecule and clinic,
and the patient's unreversed draws of the molecule, whichever product they came from.

Draws go through the cart; the products are the demo catalog's, with its label limits (Botox: 64 U over
glabella, forehead and crow's feet in a session, 400 U in 90 days; Xeomin: every 90 days at most), and the
typical ranges are the chain defaults the migration seeds (onabotulinumtoxinA glabella 10-25 U ...).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from inventory.models import Container, DoseRange, Draw, Treatment
from inventory.cart import service as cart
from inventory.cart import dose_limits
from inventory.services.permissions import Scope
from tests.factories import NOW, World, make_product, reconstitute, refusal, reverse, start_treatment
from tests.statements import recorded

DAY = dt.timedelta(days=1)
BOTOX = "onabotulinumtoxinA"
USUAL_TOTAL = "above_usual_session_total"


def test_botox_50_u_and_100_u_vials_add_up_for_one_patient(world, session):
    world.products["botox_50"] = make_product(session, "Botox Cosmetic 50 U")
    first = start_treatment(world, "P-1", at=NOW - 60 * DAY)
    vial = opened(world, "botox", at=NOW - 60 * DAY)
    give(world, first, vial, "50", "masseter_left", at=NOW - 60 * DAY)
    give(world, first, vial, "50", "masseter_right", at=NOW - 60 * DAY)
    second = start_treatment(world, "P-1", at=NOW - 30 * DAY)
    give(world, second, opened(world, "botox_50", at=NOW - 30 * DAY), "50", "masseter_left", at=NOW - 30 * DAY)

    session.flush()
    with recorded(session) as sent:
        history = dose_limits.history_for(session, first.patient_id, BOTOX, since=NOW - 90 * DAY)
    assert len(sent) == 1
    assert [(d.treatment_id, d.units) for d in history] == [
        (first.id, Decimal(50)), (first.id, Decimal(50)), (second.id, Decimal(50))]
    today = start_treatment(world, "P-1")
    # 400 U in 90 days: at the limit (250 U in one session is above Botox's usual 64 U: a warning only)
    assert codes(world, today, "botox", "250", "masseter_right") == [USUAL_TOTAL]
    assert codes(world, today, "botox_50", "251", "masseter_right") == [USUAL_TOTAL, "above_cumulative_limit"]


def test_botox_and_dysport_never_add_up_but_dysport_and_azzalure_do(world, session):
    world.products["azzalure"] = make_product(session, "Azzalure 125 s.U")
    earlier = start_treatment(world, "P-2", at=NOW - 10 * DAY)
    give(world, earlier, opened(world, "dysport", at=NOW - 10 * DAY), "300", "masseter_left", at=NOW - 10 * DAY)
    give(world, earlier, opened(world, "azzalure", at=NOW - 10 * DAY), "50", "glabella", at=NOW - 10 * DAY)
    give(world, earlier, opened(world, "botox", at=NOW - 10 * DAY), "50", "masseter_right", at=NOW - 10 * DAY)

    since = NOW - 90 * DAY
    assert [d.units for d in dose_limits.history_for(session, earlier.patient_id, BOTOX, since=since)] == [50]
    assert [d.units for d in dose_limits.history_for(session, earlier.patient_id, "abobotulinumtoxinA",
                                                     since=since)] == [300, 50]
    today = start_treatment(world, "P-2")
    # 400 U of Botox; Dysport's 300 U apart
    assert codes(world, today, "botox", "350", "masseter_left") == [USUAL_TOTAL]


def test_a_reversed_draw_does_not_count(world, session):
    treatment = start_treatment(world, "P-3", at=NOW - 5 * DAY)
    vial = opened(world, "botox", at=NOW - 5 * DAY)
    wrong = give(world, treatment, vial, "60", "masseter_left", at=NOW - 5 * DAY)
    give(world, treatment, vial, "40", "masseter_left", at=NOW - 5 * DAY)
    reverse(world, wrong.draw, at=NOW - 5 * DAY)

    history = dose_limits.history_for(session, treatment.patient_id, BOTOX, since=NOW - 90 * DAY)
    assert [d.units for d in history] == [Decimal(40)]
    today = start_treatment(world, "P-3")
    assert codes(world, today, "botox", "360", "masseter_right") == [USUAL_TOTAL]
    assert codes(world, today, "botox", "361", "masseter_right") == [USUAL_TOTAL, "above_cumulative_limit"]


def test_a_clinic_range_overrides_the_chain_default_for_its_own_area_only(world, session):
    session.add(DoseRange(clinic_id=world.clinic.id, molecule=BOTOX, area="glabella", low=Decimal(10),
                          high=Decimal(20)))
    session.flush()

    london = dose_limits.limits_for(session, world.botox, world.clinic.id)
    new_york = dose_limits.limits_for(session, world.botox, world.other_clinic.id)
    assert london is not None and new_york is not None
    assert london.typical_ranges["glabella"] == (10, 20) and new_york.typical_ranges["glabella"] == (10, 25)
    assert london.typical_ranges["forehead"] == new_york.typical_ranges["forehead"] == (10, 30)
    assert codes(world, start_treatment(world, "P-4"), "botox", "22") == ["above_typical_range"]
    assert codes(world, start_treatment(world, "NY-4", user="other_nurse", clinic=world.other_clinic), "botox",
                 "22") == []


def test_one_chain_default_per_molecule_and_area(world, session):
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(DoseRange(clinic_id=None, molecule=BOTOX, area="glabella", low=Decimal(5), high=Decimal(15)))
        session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add_all([DoseRange(clinic_id=world.clinic.id, molecule=BOTOX, area="lip_flip", low=Decimal(2),
                                   high=Decimal(6)) for _ in range(2)])
        session.flush()


def test_the_label_maximum_counts_the_session_over_the_areas_the_product_names(world):
    treatment = start_treatment(world, "P-5")
    vial = opened(world, "botox")
    give(world, treatment, vial, "24", "glabella")
    give(world, treatment, vial, "30", "forehead")
    give(world, treatment, vial, "20", "masseter_left")  # outside the label's areas
    # 64 U in the label's areas; 84 U in all is above Botox's usual 64 U a session: a warning, no confirmation
    assert codes(world, treatment, "botox", "10", "crows_feet_left") == [USUAL_TOTAL]
    warnings = check(world, treatment, "botox", "11", "crows_feet_left")
    assert [(w.code, w.needs_confirmation) for w in warnings] == [("above_label_max", True), (USUAL_TOTAL, False)]


def test_a_second_treatment_opened_for_the_same_visit_does_not_restart_the_label_maximum(world, session):
    morning = start_treatment(world, "P-7", at=NOW - dt.timedelta(hours=1))
    give(world, morning, opened(world, "botox", at=NOW - dt.timedelta(hours=1)), "8.5",
         at=NOW - dt.timedelta(hours=1))
    second = start_treatment(world, "P-7")  # the same patient, an hour later, in a treatment of its own

    error = refusal(lambda: give(world, second, opened(world, "botox"), "60", "forehead"))

    assert error.code == "confirmation_required"
    assert "68.5 U" in error.message  # 8.5 U this morning + 60 U now, above the label's 64 U
    assert not session.query(Draw).filter(Draw.treatment_id == second.id).count()


def test_a_retreatment_after_14_days_of_xeomin_warns(world, session):
    world.products["xeomin"] = make_product(session, "Xeomin 100 U")
    earlier = start_treatment(world, "P-6", at=NOW - 14 * DAY)
    give(world, earlier, opened(world, "xeomin", at=NOW - 14 * DAY), "20", at=NOW - 14 * DAY)

    touch_up = start_treatment(world, "P-6")
    (warning,) = check(world, touch_up, "xeomin", "4")
    assert warning.code == "retreatment_too_soon" and warning.needs_confirmation
    assert "last given 14 days ago" in warning.message
    assert codes(world, touch_up, "botox", "4") == []  # another molecule: no interval


def test_products_without_a_molecule_have_no_limits(world, session):
    assert dose_limits.limits_for(session, world.products["syringe"], world.clinic.id) is None


# --- helpers -----------------------------------------------------------------------------------------------


def opened(world: World, product: str, *, at: dt.datetime = NOW) -> Container:
    """A vial of ``product`` received and reconstituted at ``at``, in the London fridge."""
    return reconstitute(world, world.container(product, lot=f"DL{product[:3].upper()}{at:%m%d}", now=at), at=at)


def give(world: World, treatment: Treatment, container: Container, units: str, area: str = "glabella", *,
         at: dt.datetime = NOW) -> cart.DrawResult:
    """A draw through the cart, by a nurse of the treatment's clinic."""
    nurse = world.users["nurse" if treatment.clinic_id == world.clinic.id else "other_nurse"]
    return cart.draw(world.session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=treatment.id,
                     container_id=container.id, quantity=Decimal(units), unit="U", area=area, now=at)


def check(world: World, treatment: Treatment, product: str, units: str, area: str = "glabella"):
    return dose_limits.check(world.session, product=world.products[product], clinic_id=treatment.clinic_id,
                             patient_id=treatment.patient_id, treatment_id=treatment.id, area=area,
                             units=Decimal(units), now=NOW, timezone=world.clinic.timezone)


def codes(world: World, treatment: Treatment, product: str, units: str, area: str = "glabella") -> list[str]:
    return [w.code for w in check(world, treatment, product, units, area)]
