"""The product page sets the label's dose limits on the molecule and says so; the catalog page shows an admin the
products of one molecule whose limits disagree (a database from before the rule)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.models import Product
from tests.factories import make_product
from tests.pages.conftest import csrf_token

ABO = "abobotulinumtoxinA"


@pytest.fixture
def azzalure(world, session) -> Product:
    world.products["azzalure"] = make_product(session, "Azzalure 125 s.U")
    return world.products["azzalure"]


def _form(product: Product, **changes) -> dict:
    """The product form as the edit page fills it in, with ``changes``."""
    data = {"name": product.name, "brand": product.brand, "generic_name": product.generic_name,
            "kind": product.kind.value, "molecule": product.molecule or "", "form": product.form.value,
            "base_unit": product.base_unit, "quantity_per_container": str(product.quantity_per_container),
            "beyond_use_hours": str(product.beyond_use_hours), "gtins": product.gtins[0].gtin, "is_active": "y",
            "session_max_units": str(product.session_max_units or ""),
            "session_max_areas": [a for a in (product.session_max_areas or "").split(",") if a],
            "cumulative_max_units": str(product.cumulative_max_units or ""),
            "cumulative_window_days": str(product.cumulative_window_days or ""),
            "retreat_interval_days": str(product.retreat_interval_days or "")}
    return data | changes


def _save(client, product: Product, **changes):
    path = f"/catalog/{product.id}/edit"
    return client.post(path, data=_form(product, **changes) | {"csrf_token": csrf_token(client, path)})


def test_an_interval_saved_on_dysport_is_set_on_azzalure_and_the_page_says_so(browser_client, world, session,
                                                                              azzalure):
    admin = browser_client("admin")
    dysport = world.products["dysport"]
    page = admin.get(f"/catalog/{dysport.id}/edit").get_data(as_text=True)
    assert 'name="cumulative_window_days"' in page and 'id="p-area-glabella"' in page
    assert "A limit saved here is also set on" in page and "Azzalure 125 s.U</a>" in page

    saved = _save(admin, dysport, retreat_interval_days="120")
    assert saved.status_code == 302
    shown = admin.get(saved.headers["Location"]).get_data(as_text=True)
    assert f"Dysport 300 U saved. Dose limits also set on Azzalure 125 s.U: same molecule ({ABO})." in shown
    session.expire_all()
    assert session.get(Product, azzalure.id).retreat_interval_days == 120


def test_a_save_that_leaves_the_limits_as_shown_sets_nothing_on_the_molecule(browser_client, world, session,
                                                                            azzalure):
    """A form posts every field: Dysport's empty interval, untouched, does not clear Azzalure's 120 days."""
    azzalure.retreat_interval_days = 120  # as a database from before the rule may hold it
    session.flush()
    admin = browser_client("admin")
    dysport = world.products["dysport"]
    page = admin.get(f"/catalog/{dysport.id}/edit").get_data(as_text=True)
    assert "disagree on these limits" in page and "120 days on Azzalure 125 s.U" in page
    assert _save(admin, dysport, storage="2-8 °C, dark").status_code == 302
    session.expire_all()
    assert session.get(Product, azzalure.id).retreat_interval_days == 120
    assert session.get(Product, dysport.id).retreat_interval_days is None


def test_the_catalog_shows_an_admin_the_products_of_a_molecule_that_disagree(browser_client, world, session,
                                                                            azzalure):
    admin = browser_client("admin")
    assert 'id="limit-disagreements"' not in admin.get("/catalog").get_data(as_text=True)
    azzalure.retreat_interval_days = 120
    session.flush()
    page = admin.get("/catalog").get_data(as_text=True)
    assert 'id="limit-disagreements"' in page
    assert f"<strong>{ABO}</strong>, re-treatment interval: 120 days on" in page
    assert f'href="/catalog/{azzalure.id}/edit">Azzalure 125 s.U</a>' in page
    for role in ("manager", "nurse"):
        assert 'id="limit-disagreements"' not in browser_client(role).get("/catalog").get_data(as_text=True)
    # The limits themselves are shown to everyone.
    assert "Re-treatment</dt><dd>not sooner than 120 days" in browser_client("nurse").get("/catalog").get_data(
        as_text=True)


@pytest.mark.parametrize(("changes", "message"), [
    ({"cumulative_max_units": "300", "cumulative_window_days": ""},
     "A cumulative limit needs both its maximum and its window in days"),
    ({"session_max_units": "0"}, "Must be above 0."),
    ({"session_max_areas": ["glabella", "elbow"]}, "&#39;elbow&#39; is not a valid choice"),
    ({"retreat_interval_days": "0"}, "Number must be between 1 and 3650."),
])
def test_the_form_refuses_a_limit_that_is_not_one(browser_client, world, session, changes, message):
    admin = browser_client("admin")
    botox = world.botox
    refused = _save(admin, botox, **changes)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Product, botox.id).session_max_units == 64


def test_a_new_product_on_the_page_takes_its_molecules_limits(browser_client, world, session):
    admin = browser_client("admin")
    form = {"name": "Botox Cosmetic 200 U", "brand": "Botox", "kind": "neuromodulator", "form": "powder",
            "molecule": "onabotulinumtoxinA", "base_unit": "U", "quantity_per_container": "200",
            "beyond_use_hours": "24", "is_active": "y"}
    added = admin.post("/catalog/new", data=form | {"csrf_token": csrf_token(admin, "/catalog/new")})
    assert added.status_code == 302
    assert "Dose limits taken from its molecule (onabotulinumtoxinA), as on Botox Cosmetic 100 U." in \
        admin.get(added.headers["Location"]).get_data(as_text=True)
    product = session.scalar(select(Product).where(Product.name == "Botox Cosmetic 200 U"))
    assert (product.session_max_units, product.cumulative_max_units) == (64, 400)


def test_the_manager_reads_every_limit_and_sends_none(browser_client, world, session):
    manager = browser_client("manager")
    botox = world.botox
    page = manager.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    assert 'name="cumulative_max_units"' not in page
    assert "400 U in any 90 days" in page and "64 U over Glabella (frown lines), Forehead" in page
    assert _save(manager, botox, cumulative_max_units="500").status_code == 302  # ignored, as the sharing policy is
    session.expire_all()
    assert session.get(Product, botox.id).cumulative_max_units == 400
