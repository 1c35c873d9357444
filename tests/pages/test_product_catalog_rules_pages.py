"""Acceptance findings on the catalog, on the pages: a single-dose product is never made multi-patient, making one
multi-patient asks an admin why, and the product forms are a chain-level user's (a clinic-level manager or admin
reads the catalog and is offered no form)."""

from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import select

from inventory.admin.service import PRODUCTS_ARE_THE_CHAINS
from inventory.models import AuditEvent, Product, Role
from tests.factories import make_user
from tests.pages.conftest import csrf_token
from tests.pages.test_molecule_limits_pages import _form, _save
from tests.pages.test_supplier_authorisation_pages import refusal_code


def _fresh(session, product: Product) -> Product:
    session.expire_all()
    return session.get(Product, product.id)


def _signed_in_clinic_level(browser_client, world, session, who: str):
    if who == "lon_admin" and who not in world.users:
        world.users[who] = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
        session.flush()
    return browser_client(who)


def test_qa_repro_ticking_multi_patient_on_hylenex_is_refused_on_the_page(browser_client, world, session):
    hylenex = world.products["hylenex"]
    admin = browser_client("admin")
    page = admin.get(f"/catalog/{hylenex.id}/edit").get_data(as_text=True)
    assert "Never for a single-dose product" in page
    refused = _save(admin, hylenex, is_single_dose="y", is_multi_patient="y", reason="We share vials",
                    beyond_use_hours="", strength_per_ml="150")
    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert refusal_code(html) == "validation_error"
    assert "Hylenex recombinant 150 USP U/mL is single-dose: an opened vial is used for one patient only" in html
    assert not _fresh(session, hylenex).is_multi_patient


def test_a_new_single_dose_product_is_not_added_multi_patient_on_the_page(browser_client, world, session):
    admin = browser_client("admin")
    form = {"name": "Amphadase 150 USP U/mL", "kind": "hyaluronidase", "form": "liquid", "base_unit": "USP U",
            "strength_per_ml": "150", "volume_ml": "1", "is_single_dose": "y", "is_multi_patient": "y",
            "is_active": "y"}
    refused = admin.post("/catalog/new", data=form | {"csrf_token": csrf_token(admin, "/catalog/new")})
    assert refused.status_code == 422
    assert "is single-dose" in unescape(refused.get_data(as_text=True))
    assert session.scalar(select(Product).where(Product.name == "Amphadase 150 USP U/mL")) is None


def test_making_botox_multi_patient_on_the_page_asks_why_and_shows_it_once_saved(browser_client, world, session):
    admin = browser_client("admin")
    botox = world.botox
    refused = _save(admin, botox, is_multi_patient="y")
    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert "Letting patients share an opened Botox Cosmetic 100 U" in html
    assert "Why (required: this save lets patients share a vial)" in html
    assert not _fresh(session, botox).is_multi_patient

    saved = _save(admin, botox, is_multi_patient="y", reason="Clinic protocol CP-3")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert _fresh(session, botox).is_multi_patient
    event = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(botox.id),
                                                     AuditEvent.action == "product.sharing_changed")).one()
    assert event.details["reason"] == "Clinic protocol CP-3"
    page = unescape(admin.get(f"/catalog/{botox.id}/edit").get_data(as_text=True))
    shown = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
    assert "sharing single patient to multi-patient within beyond-use time" in shown
    assert "Why: Clinic protocol CP-3." in shown


@pytest.mark.parametrize("who", ["clinic_manager", "lon_admin"])
def test_a_clinic_level_user_reads_the_catalog_but_is_offered_no_product_form(browser_client, world, session, who):
    client = _signed_in_clinic_level(browser_client, world, session, who)
    botox = world.botox
    catalog = unescape(client.get("/catalog").get_data(as_text=True))
    assert "Botox Cosmetic 100 U" in catalog
    assert "Add a product" not in catalog and f"Edit {botox.name}" not in catalog
    assert 'data-role="catalog-chain-level"' in catalog and PRODUCTS_ARE_THE_CHAINS in catalog
    for path in ("/catalog/new", f"/catalog/{botox.id}/edit"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert PRODUCTS_ARE_THE_CHAINS in unescape(answer.get_data(as_text=True))
    posted = client.post(f"/catalog/{botox.id}/edit", data=_form(botox, is_active="") | {
        "csrf_token": csrf_token(client, "/catalog")})
    assert posted.status_code == 403
    assert _fresh(session, botox).is_active


def test_a_chain_level_manager_still_gets_the_product_forms(browser_client, world):
    manager = browser_client("manager")
    catalog = manager.get("/catalog").get_data(as_text=True)
    assert "Add a product" in catalog and 'data-role="catalog-chain-level"' not in catalog
    assert manager.get(f"/catalog/{world.botox.id}/edit").status_code == 200


def test_a_product_with_two_gtins_is_shown_on_one_line_and_saved_as_shown(browser_client, world, session):
    # The GTIN field is one line: GTINs joined by a newline were run together by the browser ("0361...0361..."),
    # and no change to the product could be saved any more (its GTINs cannot be taken off while lots exist).
    botox = world.botox
    both = f"{botox.gtins[0].gtin}, 03612340000991"
    admin = browser_client("admin")
    assert _save(admin, botox, gtins=both).status_code == 302  # a second GTIN added, as gtin_in_use advises
    page = unescape(admin.get(f"/catalog/{botox.id}/edit").get_data(as_text=True))
    assert f'value="{both}"' in page
    saved = _save(admin, botox, gtins=both, brand="Botox Cosmetic (Allergan)")  # the form sent back as shown
    assert saved.status_code == 302, unescape(saved.get_data(as_text=True))[:400]
    assert _fresh(session, botox).brand == "Botox Cosmetic (Allergan)"
    assert sorted(g.gtin for g in _fresh(session, botox).gtins) == sorted(both.split(", "))
