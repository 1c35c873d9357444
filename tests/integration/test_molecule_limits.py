"""The label's dose limits belong to the molecule (DOMAIN.md "Dose and interval checks"): the administration
keeps them equal across the molecule's products when they are written, so that the draw, which reads them from
the product drawn, checks a patient the same way whichever brand of the molecule is scanned.

On both databases, through the services; the draw itself is untouched (inventory/cart/dose_limits.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.admin import service
from inventory.admin.service import MoleculeLimitsConflict
from inventory.cart import dose_limits
from inventory.demo import demo_gtin
from inventory.errors import Forbidden, ValidationError
from inventory.models import AuditEvent, Product, ProductGtin
from inventory.services import catalog
from tests.factories import NOW, World, make_product, product_spec, reconstitute, refusal, start_treatment
from tests.factories import draw as cart_draw

DAY = dt.timedelta(days=1)
ABO = "abobotulinumtoxinA"
BOTOX_AREAS = "glabella,forehead,crows_feet_left,crows_feet_right"


@pytest.fixture
def abo(world: World, session) -> dict[str, Product]:
    """Dysport, Azzalure and Alluzience: three products of abobotulinumtoxinA, none with a limit (the demo's)."""
    world.products["azzalure"] = make_product(session, "Azzalure 125 s.U")
    world.products["alluzience"] = make_product(session, "Alluzience 125 s.U")
    return {name: world.products[name] for name in ("dysport", "azzalure", "alluzience")}


def _change(world: World, product: Product, user: str = "admin", reason: str | None = None, **fields):
    return service.change_product(world.session, actor=world.users[user], product_id=product.id, fields=fields,
                                  now=NOW, reason=reason)


def _add(world: World, name: str, molecule: str | None, user: str = "admin", **fields):
    spec = {"name": name, "kind": "neuromodulator", "form": "powder", "base_unit": "U",
            "quantity_per_container": Decimal(200), "beyond_use_hours": 24, "molecule": molecule}
    return service.add_product(world.session, actor=world.users[user], fields=spec | fields, gtins=[], now=NOW)


def _variant(session, base: str, name: str, item: int, **overrides) -> Product:
    """A product like the demo's ``base`` under another name and GTIN."""
    spec = product_spec(base) | {"name": name} | overrides
    del spec["gtin"]
    product = Product(**spec, gtins=[ProductGtin(gtin=demo_gtin(item))])
    session.add(product)
    session.flush()
    return product


def _events(session, product: Product) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "product", AuditEvent.object_id == str(product.id)).order_by(AuditEvent.id)))


# --- a limit set on one product is set on its molecule ---------------------------------------------------


def test_a_limit_set_on_dysport_is_set_on_every_product_of_abobotulinumtoxin_a_each_audited(world, session, abo):
    saved = _change(world, abo["dysport"], retreat_interval_days=120)

    assert [p.retreat_interval_days for p in abo.values()] == [120, 120, 120]
    assert world.botox.retreat_interval_days is None  # another molecule
    assert [p.name for p in saved.also_set_on] == ["Alluzience 125 s.U", "Azzalure 125 s.U"]
    assert saved.note == ("Dose limits also set on Alluzience 125 s.U, Azzalure 125 s.U: same molecule "
                          "(abobotulinumtoxinA).")
    (own,) = _events(session, abo["dysport"])
    assert own.action == "product.changed" and own.details["retreat_interval_days"] == {"from": None, "to": 120}
    assert own.details["also_set_on"] == [{"product_id": abo["alluzience"].id, "name": "Alluzience 125 s.U"},
                                          {"product_id": abo["azzalure"].id, "name": "Azzalure 125 s.U"}]
    for name in ("azzalure", "alluzience"):
        (event,) = _events(session, abo[name])
        assert event.action == "product.changed" and event.actor_id == world.users["admin"].id
        assert event.details["retreat_interval_days"] == {"from": None, "to": 120}
        assert event.details["set_through"] == {"product_id": abo["dysport"].id, "name": "Dysport 300 U",
                                                "molecule": ABO}


def test_an_azzalure_draw_is_checked_against_the_interval_set_on_dysport(world, session, abo):
    """QA's repro: the last Dysport 100 days ago, 120 days set on Dysport; Azzalure, the same molecule, warns too."""
    past = NOW - 100 * DAY
    earlier = start_treatment(world, "P-ABO", at=past)
    dysport = reconstitute(world, world.container("dysport", lot="DYS100", now=past), at=past)
    cart_draw(world, earlier, dysport, "50", at=past)
    _change(world, abo["dysport"], retreat_interval_days=120)

    today = start_treatment(world, "P-ABO")
    for name in ("dysport", "azzalure"):
        warnings = dose_limits.check(session, product=abo[name], clinic_id=world.clinic.id,
                                     patient_id=today.patient_id, treatment_id=today.id, area="glabella",
                                     units=Decimal(10), now=NOW, timezone=world.clinic.timezone)
        assert [w.code for w in warnings] == ["retreatment_too_soon"], name


def test_a_session_maximum_goes_with_its_areas_and_a_cumulative_maximum_with_its_days(world, session):
    """Botox 50 U from a database of before (no limits) beside Botox 100 U (the label's): changing one half of a
    limit on Botox 100 U sets the whole limit on Botox 50 U, never a maximum without its window."""
    botox_50 = make_product(session, "Botox Cosmetic 50 U", session_max_units=None, session_max_areas=None,
                            cumulative_max_units=None, cumulative_window_days=None)
    _change(world, world.botox, cumulative_max_units=Decimal(300), session_max_units=Decimal(60))
    assert (botox_50.cumulative_max_units, botox_50.cumulative_window_days) == (Decimal(300), 90)
    assert (botox_50.session_max_units, botox_50.session_max_areas) == (Decimal(60), BOTOX_AREAS)
    assert catalog.limit_disagreements([world.botox, botox_50]) == []


def test_clearing_a_limit_clears_it_on_the_molecule(world, session, abo):
    _change(world, abo["azzalure"], retreat_interval_days=90)
    saved = _change(world, abo["alluzience"], retreat_interval_days=None, reason="Withdrawn from the label")  # looser
    assert [p.retreat_interval_days for p in abo.values()] == [None, None, None]
    assert {p.name for p in saved.also_set_on} == {"Dysport 300 U", "Azzalure 125 s.U"}


def test_areas_are_stored_in_the_carts_order_whatever_order_they_come_in(world, session):
    _change(world, world.botox, session_max_areas=["forehead", "crows_feet_right", "glabella", "forehead"],
            reason="Left crow's feet counted apart")  # fewer areas counted: looser
    assert world.botox.session_max_areas == "glabella,forehead,crows_feet_right"
    _change(world, world.botox, session_max_areas=[])
    assert world.botox.session_max_areas is None  # every area


# --- a product joining a molecule takes its limits ------------------------------------------------------------


def test_a_new_product_takes_its_molecules_limits(world, session):
    saved = _add(world, "Botox Cosmetic 200 U", "onabotulinumtoxinA")
    product = saved.product
    assert (product.session_max_units, product.session_max_areas) == (Decimal(64), BOTOX_AREAS)
    assert (product.cumulative_max_units, product.cumulative_window_days) == (Decimal(400), 90)
    assert saved.limits_from is world.botox and saved.also_set_on == []
    assert saved.note == "Dose limits taken from its molecule (onabotulinumtoxinA), as on Botox Cosmetic 100 U."
    (created,) = _events(session, product)
    assert created.details["limits_from"] == {"product_id": world.botox.id, "name": "Botox Cosmetic 100 U",
                                              "molecule": "onabotulinumtoxinA"}
    # A manager adds one too: the limits are the molecule's, not the manager's choice.
    by_manager = _add(world, "Botox Cosmetic 150 U", "onabotulinumtoxinA", user="manager").product
    assert by_manager.cumulative_max_units == Decimal(400)


def test_a_new_product_given_a_limit_other_than_its_molecules_is_refused_and_changes_nothing(world, session):
    error = refusal(lambda: _add(world, "Botox Cosmetic 200 U", "onabotulinumtoxinA",
                                 session_max_units=Decimal(100)))
    assert isinstance(error, MoleculeLimitsConflict) and error.code == "molecule_limits_conflict"
    assert error.status == 409
    assert error.message.startswith("Botox Cosmetic 200 U would have 100 U as its session maximum, but its molecule "
                                    "onabotulinumtoxinA has 64 U (as on Botox Cosmetic 100 U)")
    assert world.botox.session_max_units == Decimal(64)
    assert session.scalar(select(Product).where(Product.name == "Botox Cosmetic 200 U")) is None
    # The molecule's own value is no conflict.
    assert _add(world, "Botox Cosmetic 200 U", "onabotulinumtoxinA", session_max_units=Decimal(64)).product.id


def test_the_first_product_of_a_molecule_brings_its_own_limits(world, session):
    saved = _add(world, "Relfydess 100 U", "relabotulinumtoxinA", retreat_interval_days=90,
                 cumulative_max_units=Decimal(300), cumulative_window_days=90)
    assert (saved.product.retreat_interval_days, saved.product.cumulative_max_units) == (90, Decimal(300))
    assert saved.note is None


def test_a_product_moved_to_another_molecule_takes_its_limits_and_only_an_admin_may_move_it(world, session, abo):
    _change(world, abo["dysport"], retreat_interval_days=120)
    stray = _variant(session, "Alluzience 125 s.U", "Alluzience 200 s.U", 90, molecule="abobotulinumtoxinA (liquid)",
                     retreat_interval_days=30)
    refused = refusal(lambda: _change(world, stray, user="manager", molecule=ABO))
    assert isinstance(refused, Forbidden) and stray.molecule == "abobotulinumtoxinA (liquid)"
    session.refresh(stray)

    saved = _change(world, stray, molecule=ABO)
    assert stray.retreat_interval_days == 120 and saved.limits_from is not None
    assert saved.note == f"Dose limits taken from its molecule ({ABO}), as on {saved.limits_from.name}."
    assert saved.also_set_on == [] and abo["dysport"].retreat_interval_days == 120
    # Moved with a limit other than the molecule's: refused, the molecule's stay.
    other = _variant(session, "Dysport 300 U", "Dysport 500 U", 91, molecule="abobotulinumtoxinA (other)")
    assert isinstance(refusal(lambda: _change(world, other, molecule=ABO, retreat_interval_days=60)),
                      MoleculeLimitsConflict)


def test_a_molecule_spelt_like_another_but_for_case_is_refused(world, session):
    error = refusal(lambda: _add(world, "Botox Cosmetic 200 U", "OnabotulinumtoxinA"))
    assert isinstance(error, ValidationError) and error.details["field"] == "molecule"
    assert "'onabotulinumtoxinA'" in error.message


# --- a database from before: products of one molecule that disagree --------------------------------------------


def test_products_of_a_molecule_that_disagree_are_listed_and_one_save_makes_them_agree(world, session, abo):
    abo["azzalure"].retreat_interval_days = 120  # as a database from before the rule may hold it
    session.flush()
    (found,) = catalog.limit_disagreements(catalog.list_products(session))
    assert (found.molecule, found.field, found.label) == (ABO, "retreat_interval_days", "re-treatment interval")
    assert found.summary() == "none on Alluzience 125 s.U, Dysport 300 U; 120 days on Azzalure 125 s.U"
    # A product joining the molecule cannot take a value the molecule does not have.
    joining = refusal(lambda: _add(world, "Dysport 500 U", ABO))
    assert isinstance(joining, MoleculeLimitsConflict)
    assert joining.details["field"] == "retreat_interval_days" and "disagree on the re-treatment interval" in \
        joining.message

    _change(world, abo["dysport"], retreat_interval_days=120)
    assert [p.retreat_interval_days for p in abo.values()] == [120, 120, 120]
    assert catalog.limit_disagreements(catalog.list_products(session)) == []


def test_a_manager_restating_a_limit_sets_nothing_on_the_molecule(world, session, abo):
    abo["azzalure"].retreat_interval_days = 120
    session.flush()
    saved = _change(world, abo["dysport"], user="manager", retreat_interval_days=None, storage="2-8 °C, dark")
    assert saved.also_set_on == [] and abo["azzalure"].retreat_interval_days == 120
    assert isinstance(refusal(lambda: _change(world, abo["dysport"], user="manager", retreat_interval_days=120)),
                      Forbidden)


# --- what a limit may be ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field"), [
    ({"session_max_areas": ["glabella", "elbow"]}, "session_max_areas"),
    ({"cumulative_max_units": Decimal(300), "cumulative_window_days": None}, "cumulative_window_days"),
    ({"cumulative_max_units": None}, "cumulative_max_units"),  # Botox's 90 days left without a maximum
    ({"session_max_units": None}, "session_max_units"),  # Botox's areas left without a maximum
    ({"session_max_units": Decimal(0)}, "session_max_units"),
    ({"retreat_interval_days": 0}, "retreat_interval_days"),
])
def test_a_limit_that_is_not_one_is_refused(world, session, fields, field):
    error = refusal(lambda: _change(world, world.botox, **fields))
    assert isinstance(error, ValidationError) and error.details["field"] == field, error.message


def test_a_product_without_a_molecule_takes_no_limit(world, session):
    error = refusal(lambda: _add(world, "Unnamed toxin 100 U", None, retreat_interval_days=90))
    assert isinstance(error, ValidationError) and error.details["field"] == "molecule"
