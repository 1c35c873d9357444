"""The demo catalog names each real product's manufacturer (the regulator's report asks for it); a demo loaded
before it did gets them on the next load, and a manufacturer set by hand is kept."""

from __future__ import annotations

from sqlalchemy import select

from inventory import demo
from inventory.models import Product, ProductKind
from tests.factories import HASHER, NOW


def makers(session) -> dict[str, str]:
    return {p.name: p.manufacturer for p in session.scalars(select(Product))}


def test_every_demo_medicine_has_its_real_manufacturer(session):
    demo.load(session, HASHER, now=NOW)

    made_by = makers(session)
    assert made_by["Botox Cosmetic 100 U"] == made_by["Juvederm Voluma XC 1.0 mL"] == "Allergan Aesthetics (AbbVie)"
    assert made_by["Dysport 300 U"].startswith("Ipsen") and "Galderma" in made_by["Dysport 300 U"]
    assert made_by["Azzalure 125 s.U"].startswith("Galderma")
    assert made_by["Xeomin 100 U"].startswith("Merz")
    assert (made_by["Daxxify 100 U"], made_by["Jeuveau 100 U"], made_by["Letybo 100 U"]) == \
        ("Revance Therapeutics", "Evolus", "Hugel")
    assert made_by["Restylane Kysse 1.0 mL"] == "Galderma"
    assert made_by["Hylenex recombinant 150 USP U/mL"] == "Halozyme Therapeutics"
    assert made_by["Amphadase 150 USP U/mL"] == "Amphastar Pharmaceuticals"
    medicines = session.scalars(select(Product).where(Product.kind != ProductKind.SUPPLY)).all()
    assert [p.name for p in medicines if not p.manufacturer] == []


def test_loading_again_fills_a_missing_manufacturer_and_keeps_one_set_by_hand(session):
    demo.load(session, HASHER, now=NOW)
    by_name = {p.name: p for p in session.scalars(select(Product))}
    by_name["Botox Cosmetic 100 U"].manufacturer = ""  # as a demo loaded before the catalog named them
    by_name["Xeomin 100 U"].manufacturer = "Merz Therapeutics GmbH"
    session.flush()

    demo.load(session, HASHER, now=NOW)

    made_by = makers(session)
    assert made_by["Botox Cosmetic 100 U"] == "Allergan Aesthetics (AbbVie)"
    assert made_by["Xeomin 100 U"] == "Merz Therapeutics GmbH"
