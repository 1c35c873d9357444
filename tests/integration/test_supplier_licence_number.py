"""Adding or changing a supplier refuses a placeholder typed as its licence ("n/a", "tbc", "000"): it is not a
licence number, and under the unique licence key a second supplier's "n/a" was refused as the first's licence.
An empty licence (not known yet) stays allowed; a placeholder saved before the rule stays on file until the
licence is typed again or the supplier authorised (the service, on the migrated database)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.errors import ValidationError
from tests.factories import NOW, World, refusal

NOT_A_LICENCE = ("Type the supplier's licence number as printed on its licence, or leave the field empty until you "
                 "have it: “{}” is not a licence number.")


def add(world: World, name: str, licence: str | None, *, authorised: bool = False) -> Supplier:
    return counterfeit.add_supplier(world.session, actor=world.users["manager"], name=name, licence=licence,
                                    authorised=authorised, reason="checked on the register" if authorised else None,
                                    now=NOW)


def update(world: World, supplier: Supplier, reason: str | None = None, **changes) -> Supplier:
    return counterfeit.update_supplier(world.session, actor=world.users["manager"], supplier_id=supplier.id, now=NOW,
                                       changes=changes, reason=reason)


def suppliers(world: World) -> int:
    return world.session.scalar(select(func.count(Supplier.id)))


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "na", "none", "-", "--", "unknown", "tbc", "tbd", "pending",
                                         "0", "000", "xxx", "?"])
def test_adding_a_supplier_refuses_a_placeholder_licence(world, placeholder):
    before = suppliers(world)
    error = refusal(lambda: add(world, "Harbour Pharma", f"  {placeholder} "))
    assert isinstance(error, ValidationError) and error.code == "validation_error"
    assert error.message == NOT_A_LICENCE.format(placeholder)  # as typed, the spaces around it dropped
    assert error.details == {"field": "licence", "fields": [{"field": "licence", "problem": error.message}]}
    assert suppliers(world) == before


def test_two_suppliers_whose_licence_is_not_known_yet_are_both_added(world):
    for name, licence in (("Harbour Pharma", None), ("Quay Pharma", ""), ("Pier Pharma", "   ")):
        assert add(world, name, licence).licence is None
    real = add(world, "Dock Pharma", " WDA(H) 12345 ", authorised=True)
    assert (real.licence, real.licence_key, real.is_authorised) == ("WDA(H) 12345", "wdah12345", True)
    for name, licence in (("Bay Pharma", "DEA RB1234563"), ("Cove Pharma", "3005123456")):
        assert add(world, name, licence).licence == licence


def test_an_authorised_supplier_is_refused_a_placeholder_without_being_offered_an_empty_field(world):
    error = refusal(lambda: add(world, "Harbour Pharma", "tbc", authorised=True))
    assert error.details["field"] == "licence"
    assert error.message == ("Type the supplier's licence number as printed on its licence: “tbc” is not a licence "
                             "number, and an authorised supplier needs its licence.")
    error = refusal(lambda: update(world, world.supplier, licence="N/A"))
    assert error.details["field"] == "licence" and "“N/A” is not a licence number" in error.message
    world.session.expire_all()
    assert world.session.get(Supplier, world.supplier.id).licence == "WDA(H) 0001"


def test_a_placeholder_saved_before_the_rule_stays_until_the_licence_is_typed_again(world):
    grey = Supplier(name="Grey market", licence="n/a", is_authorised=False)
    world.session.add(grey)
    world.session.flush()
    # What does not touch the licence is not refused for it: renaming, correcting, stopping.
    assert update(world, grey, name="Grey Market Ltd").licence == "n/a"
    # Saved again as it is (the page's form sends what is on file), it is refused in words.
    error = refusal(lambda: update(world, grey, licence="n/a"))
    assert (error.details["field"], error.message) == ("licence", NOT_A_LICENCE.format("n/a"))
    # Authorising it on the placeholder on file is refused too, saying why; the reason is asked with it.
    error = refusal(lambda: update(world, grey, authorised=True))
    assert error.details["field"] == "licence"
    assert error.message == ("The licence on file, “n/a”, is not a licence number: type the supplier's licence "
                             "number as printed on its licence to authorise it.")
    assert [f["field"] for f in error.details["fields"]] == ["licence", "reason"]
    world.session.expire_all()
    assert (world.session.get(Supplier, grey.id).licence, world.session.get(Supplier, grey.id).is_authorised) == (
        "n/a", False)
    fixed = update(world, grey, reason="licence checked on the register", licence="WDA(H) 4411", authorised=True)
    assert (fixed.licence, fixed.is_authorised) == ("WDA(H) 4411", True)


def test_an_authorised_supplier_with_a_placeholder_on_file_may_still_be_stopped(world):
    old = Supplier(name="Old Friend Wholesale", licence="none", is_authorised=True)
    world.session.add(old)
    world.session.flush()
    assert update(world, old, name="Old Friend Wholesale Ltd").is_authorised
    assert not update(world, old, authorised=False, reason="no licence on file").is_authorised
