"""A scan reads what it names in one statement, and says the same to the nurse whatever the outcome.

Behaviour, not timing (docs/performance.md "Scan"): the clinic's time zone judges the lot's
expiry, and loading it lazily cost a second round trip on every label scanned at the cart; a
box (GS1) was looked up by GTIN and then by lot, two round trips where one will do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from inventory.errors import DomainError
from inventory.services import scanning
from inventory.services.permissions import Scope
from recall import services as recall
from tests.factories import NOW
from tests.statements import recorded

UNKNOWN_GTIN = "00301234567896"  # a valid check digit, in no catalog


def sent(session, call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What ``call`` returned (or the DomainError it raised) and the statements it sent."""
    session.expire_all()  # nothing already in the identity map
    with recorded(session) as statements:
        try:
            outcome = call()
        except DomainError as error:
            outcome = error
    return outcome, [s.split("FROM")[0][:80] for s, _ in statements]


def scan(session, code: str, now: dt.datetime = NOW, timezone: str = "Europe/London") -> Callable[[], Any]:
    return lambda: scanning.scan(session, code, scope=Scope.everything(), now=now, timezone=timezone)


def box(gtin: str, expiry: str = "270331", lot: str | None = "C3709C3") -> str:
    return f"]d201{gtin}17{expiry}" + (f"10{lot}" if lot is not None else "")


def test_a_label_scan_is_one_statement_and_finds_everything(world, session):
    container = world.container("botox")
    label, expected_id, lot, product = container.label_code, container.id, container.lot.number, container.product.name
    session.expire_all()  # nothing already in the identity map
    with recorded(session) as statements:
        result = scanning.scan(session, label, scope=Scope.everything(), now=NOW, timezone="Europe/London")
        found = result.container
        assert (found.id, found.lot.number, found.product.name) == (expected_id, lot, product)
        assert found.location.name and found.clinic.timezone == "Europe/London"
    assert len(statements) == 1, [s.split("FROM")[0][:80] for s, _ in statements]


def test_a_box_scan_is_one_statement_and_names_product_and_lot(world, session):
    lot_id = world.container("botox").lot_id
    gtin = world.botox.gtins[0].gtin
    result, statements = sent(session, scan(session, box(gtin, lot="c3709c3 ")))
    assert len(statements) == 1, statements
    assert (result.product.name, result.lot.id, result.lot.number) == ("Botox Cosmetic 100 U", lot_id, "C3709C3")
    assert result.lot.product is result.product and result.container is None and result.warnings == []


def test_a_box_whose_expiry_differs_from_the_lot_on_file_is_refused_in_one_statement(world, session):
    lot = world.container("botox").lot
    error, statements = sent(session, scan(session, box(world.botox.gtins[0].gtin, expiry="270330")))
    assert len(statements) == 1, statements
    assert (error.code, error.message) == (
        "lot_expiry_conflict",
        "This box says expiry 30 Mar 2027 but lot C3709C3 is on file with 31 Mar 2027: do not use it; set it aside "
        "for the safety lead.",
    )
    assert error.details == {"lot_id": lot.id, "lot_number": "C3709C3", "product_id": world.botox.id,
                             "expiry_on_file": "2027-03-31", "expiry_given": "2027-03-30", "expiry_raw": "270330"}


def test_a_box_of_a_lot_not_on_file_still_names_its_product_in_one_statement(world, session):
    world.container("botox")
    gtin = world.botox.gtins[0].gtin
    result, statements = sent(session, scan(session, box(gtin, lot="NEW1")))
    assert len(statements) == 1, statements
    assert (result.product.name, result.lot, result.warnings) == ("Botox Cosmetic 100 U", None, [])
    expired, _ = sent(session, scan(session, box(gtin, expiry="260614", lot="NEW1")))
    assert (expired.product.name, expired.lot) == ("Botox Cosmetic 100 U", None)
    assert expired.warnings == ["This box expired on 14 Jun 2026."]


def test_a_lot_number_of_another_product_is_not_this_products_lot(world, session):
    world.container("dysport", lot="SHARED")
    result, _ = sent(session, scan(session, box(world.botox.gtins[0].gtin, lot="SHARED")))
    assert (result.product.name, result.lot) == ("Botox Cosmetic 100 U", None)


@pytest.mark.parametrize("lot", ["C3709C3", None], ids=["with a lot", "without a lot"])
def test_a_box_of_a_gtin_not_in_the_catalog_is_an_unknown_product_in_one_statement(world, session, lot):
    world.container("botox")
    error, statements = sent(session, scan(session, box(UNKNOWN_GTIN, lot=lot)))
    assert len(statements) == 1, statements
    assert (error.code, error.details) == ("unknown_product", {"gtin": UNKNOWN_GTIN})
    assert error.message == (
        f"GTIN {UNKNOWN_GTIN} is not in Vialog's catalog: the product must be added to the catalog first (a manager or an admin can)."
    )


def test_a_gtin_alone_names_the_product_in_one_statement_and_asks_for_the_lot(world, session):
    gtin = world.botox.gtins[0].gtin
    result, statements = sent(session, scan(session, gtin))
    assert len(statements) == 1, statements
    assert (result.product.name, result.lot) == ("Botox Cosmetic 100 U", None)
    assert result.warnings == ["This code names the product only: scan or type the lot and expiry too."]
    error, _ = sent(session, scan(session, UNKNOWN_GTIN))
    assert error.code == "unknown_product"


def test_a_box_without_a_lot_names_the_product_and_warns_when_expired(world, session):
    gtin = world.botox.gtins[0].gtin
    result, statements = sent(session, scan(session, box(gtin, expiry="260614", lot=None)))
    assert len(statements) == 1, statements
    assert (result.product.name, result.lot, result.warnings) == (
        "Botox Cosmetic 100 U", None, ["This box expired on 14 Jun 2026."]
    )


def test_a_box_of_an_expired_or_quarantined_lot_is_refused_with_its_message(world, session):
    lot = world.container("botox").lot
    gtin = world.botox.gtins[0].gtin
    error, statements = sent(session, scan(session, box(gtin), now=dt.datetime(2027, 4, 1, 12, tzinfo=dt.UTC)))
    assert len(statements) == 1, statements
    assert (error.code, error.message) == (
        "lot_expired", "Lot C3709C3 of Botox Cosmetic 100 U expired on 31 Mar 2027: do not use."
    )
    recall.quarantine(session, actor=world.users["safety"], lot_id=lot.id, reason="supplier alert", now=NOW)
    error, _ = sent(session, scan(session, box(gtin)))
    assert (error.code, error.message) == (
        "lot_quarantined",
        "Lot C3709C3 of Botox Cosmetic 100 U is quarantined (supplier alert): do not use until a safety lead "
        "releases it.",
    )
    # The safety lead's reason is said as one short line, never as a page of text.
    recall.release(session, actor=world.users["safety"], lot_id=lot.id, reason="checked", now=NOW)
    recall.quarantine(session, actor=world.users["safety"], lot_id=lot.id, reason="On the counterfeit watch list:\n"
                      + "x" * 300, now=NOW)
    error, _ = sent(session, scan(session, box(gtin)))
    assert error.message.startswith("Lot C3709C3 of Botox Cosmetic 100 U is quarantined (On the counterfeit watch "
                                    "list: xxx")
    assert "…): do not use until a safety lead releases it." in error.message and len(error.message) < 260


def test_the_beyond_use_warning_is_for_a_vial_with_something_left(world, session):
    """A vial past its beyond-use time says "waste what is left" only while something is left: a wasted one
    says it is empty, not both."""
    from tests.factories import reconstitute, waste

    vial = world.container("botox")
    reconstitute(world, vial, at=NOW - dt.timedelta(hours=30))
    session.flush()
    scope = Scope.everything()
    due = scanning.scan(session, vial.label_code, scope=scope, now=NOW, timezone="Europe/London")
    assert due.warnings == ["This vial is past its beyond-use time: waste what is left."]
    waste(world, vial, "beyond_use", at=NOW)
    session.flush()
    wasted = scanning.scan(session, vial.label_code, scope=scope, now=NOW, timezone="Europe/London")
    assert wasted.warnings == []


def test_a_products_bare_barcode_at_the_cart_is_explained_as_naming_no_lot(world, session):
    from tests.factories import start_treatment

    treatment = start_treatment(world, "P-GTIN")
    gtin = world.botox.gtins[0].gtin
    scope = Scope.everything()
    result = scanning.scan(session, gtin, scope=scope, now=NOW, timezone="Europe/London")
    with pytest.raises(DomainError) as refused:
        scanning.container_for_cart(session, result, scope=scope, clinic_id=treatment.clinic_id,
                                    treatment_id=treatment.id, location_id=treatment.location_id)
    assert refused.value.code == "unknown_container"
    assert "names Botox Cosmetic 100 U but no lot" in refused.value.message
    assert "box's full code" in refused.value.message


def test_a_patients_card_scanned_for_a_vial_is_named_as_a_patients_reference(world, session):
    from tests.factories import start_treatment

    start_treatment(world, "P-1001")
    session.flush()
    with pytest.raises(DomainError) as refused:
        scanning.scan(session, "P-1001", scope=Scope.everything(), now=NOW, timezone="Europe/London")
    assert refused.value.code == "unreadable_code"
    assert "P-1001 is a patient's reference, not a vial's code" in refused.value.message
    with pytest.raises(DomainError) as unknown:  # any other unreadable text stays as it was
        scanning.scan(session, "P-9999", scope=Scope.everything(), now=NOW, timezone="Europe/London")
    assert "patient" not in unknown.value.message


def test_a_clinic_level_box_scan_is_one_statement_and_reads_another_clinics_lot_as_not_on_file(world, session):
    theirs = world.container("botox", lot="NY1", location=world.location("Fridge", world.other_clinic)).lot_id
    ours = world.container("botox", lot="LN1").lot_id
    gtin = world.botox.gtins[0].gtin
    london, new_york = Scope(frozenset({world.clinic.id})), Scope(frozenset({world.other_clinic.id}))

    def at(scope: Scope, lot: str) -> Callable[[], Any]:
        return lambda: scanning.scan(session, box(gtin, lot=lot), scope=scope, now=NOW, timezone="Europe/London")

    for scope, lot, expected in ((london, "LN1", ours), (london, "NY1", None), (new_york, "NY1", theirs),
                                 (new_york, "LN1", None), (Scope.everything(), "NY1", theirs)):
        result, statements = sent(session, at(scope, lot))
        assert len(statements) == 1, statements
        assert (result.lot.id if result.lot else None) == expected, (scope, lot)
