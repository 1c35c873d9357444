"""QA: a chain admin setting up a new clinic on the pages.

1. A fridge added on the Locations page is temperature-sensitive (an unticked box says nothing; the server's default
   for the kind applies), so a toxin received into it is let in and an excursion there holds what it keeps; an
   admin who unticks the box themself (vialog.js says so) gets an unwatched fridge.
2. The product form records the label's facts the API takes: storage, labelled diluent and its mL, usual maximum a
   session, follow-up, label source, a filler's material and lidocaine, hyaluronidase's source.
3. A base unit that does not fit the kind is refused beside the field.
4. Opening a clinic says where to go next, with links; the clinic page links to its locations and users; the New
   location form comes first on the Locations page.
5. The time zone's label and placeholder agree and the field suggests zoneinfo's zones; the product form shows
   quantities as people write them ("100", not "100.0000").
6. A clinic-level admin is told to choose their own clinics, never offered chain level.
7. Unticking "every receipt names its supplier" asks why.
"""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.models import Clinic, Location, Product, Role, User
from tests.factories import make_user
from tests.pages.conftest import csrf_token
from tests.pages.test_product_manufacturer_pages import page_form as product_form

NEW_TOXIN = {
    "name": "Daxxify 50 U", "brand": "Daxxify", "kind": "neuromodulator", "form": "powder", "base_unit": "U",
    "quantity_per_container": "50", "molecule": "daxibotulinumtoxinA", "beyond_use_hours": "72",
    "storage": "room temperature", "labelled_diluent": "0.9% sodium chloride, preservative-free",
    "labelled_diluent_ml": "0.6", "usual_max_units_per_session": "120", "follow_up_days": "14",
    "label_source": "Manufacturer's label, 2025", "is_active": "y",
}


def _key(html: str) -> str:
    match = re.search(r'name="form_key" type="hidden" value="([^"]+)"', html)
    return match.group(1) if match else ""


def _post_new(client, path: str, data: dict):
    html = client.get(path).get_data(as_text=True)
    return client.post(path, data=data | {"csrf_token": csrf_token(client, path), "form_key": _key(html)})


def _beside(html: str, field_id: str) -> str:
    """The field's own block: its label, input and any refusal beside it."""
    start = html.index(f'<label for="{field_id}"')
    return html[start:html.index("</div>", start)]


# --- 1. a fridge is temperature-sensitive ------------------------------------------------------------------


def _add_location(client, world, **fields: str):
    data = {"clinic_id": str(world.clinic.id)} | fields
    return _post_new(client, "/locations", data)


def _location(session, name: str) -> Location:
    session.expire_all()
    return session.scalars(select(Location).where(Location.name == name)).one()


def test_qa_repro_a_fridge_added_on_the_page_is_temperature_sensitive(browser_client, world, session):
    admin = browser_client("admin")
    added = _add_location(admin, world, name="Fridge 2", kind="fridge")  # the box left as the page shows it
    assert added.status_code == 302, added.get_data(as_text=True)
    fridge = _location(session, "Fridge 2")
    assert fridge.temperature_sensitive
    # A toxin kept at 2-8 °C is received into it with no confirmation, and the API reads it the same.
    assert cold_chain.ensure_kept_cold(world.botox, fridge, confirmed=False) is False
    page = admin.get(added.headers["Location"]).get_data(as_text=True)
    assert "Fridge 2 added. It is temperature-sensitive: an excursion there holds what it keeps." in page


def test_an_admin_who_unticks_the_box_themself_gets_an_unwatched_fridge_and_a_room_stays_a_room(
        browser_client, world, session):
    admin = browser_client("admin")
    assert _add_location(admin, world, name="Drinks fridge", kind="fridge", temperature_chosen="1").status_code == 302
    assert not _location(session, "Drinks fridge").temperature_sensitive
    assert _add_location(admin, world, name="Room 3", kind="room").status_code == 302
    assert not _location(session, "Room 3").temperature_sensitive
    assert _add_location(admin, world, name="Cool room", kind="room", temperature_sensitive="y").status_code == 302
    assert _location(session, "Cool room").temperature_sensitive


# --- 2. the product form's label facts ---------------------------------------------------------------------


def test_qa_repro_the_product_form_records_the_labels_facts(browser_client, world, session):
    admin = browser_client("admin")
    page = admin.get("/catalog/new").get_data(as_text=True)
    for field_id in ("p-storage", "p-follow-up", "p-label-source", "p-usual-max", "p-diluent", "p-diluent-ml",
                     "p-material", "p-lidocaine", "p-source"):
        assert f'<label for="{field_id}"' in page, field_id
    assert 'data-kinds="filler" id="p-filler-facts"' in page and 'data-kinds="hyaluronidase"' in page
    added = _post_new(admin, "/catalog/new", NEW_TOXIN)
    assert added.status_code == 302, added.get_data(as_text=True)
    session.expire_all()
    product = session.scalars(select(Product).where(Product.name == "Daxxify 50 U")).one()
    assert (product.storage, product.labelled_diluent, product.labelled_diluent_ml, product.usual_max_units_per_session,
            product.follow_up_days, product.label_source) == (
        "room temperature", "0.9% sodium chloride, preservative-free", Decimal("0.6"), Decimal("120"), 14,
        "Manufacturer's label, 2025")
    assert not cold_chain.needs_fridge(product)  # room temperature, as its label says

    # The edit page shows them, quantities as people write them, and saving it as shown changes nothing.
    path = f"/catalog/{product.id}/edit"
    shown = product_form(admin, path)
    assert (shown["storage"], shown["labelled_diluent_ml"], shown["usual_max_units_per_session"],
            shown["quantity_per_container"], shown["follow_up_days"]) == (
        ["room temperature"], ["0.6"], ["120"], ["50"], ["14"])
    saved = admin.post(path, data=shown)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    session.expire_all()
    assert session.get(Product, product.id).labelled_diluent_ml == Decimal("0.6")


def test_a_filler_and_hyaluronidase_facts_are_kept_and_a_post_without_them_leaves_them(browser_client, world, session):
    admin = browser_client("admin")
    filler = world.filler
    path = f"/catalog/{filler.id}/edit"
    saved = admin.post(path, data=product_form(admin, path, material="HA", has_lidocaine="no"))
    assert saved.status_code == 302, saved.get_data(as_text=True)
    session.expire_all()
    assert (session.get(Product, filler.id).material, session.get(Product, filler.id).has_lidocaine) == ("HA", False)
    # A post that carries no label fields (an older form, a script) leaves them as they are.
    partial = {name: value for name, value in product_form(admin, path).items()
               if name not in ("material", "has_lidocaine", "storage", "label_source")}
    assert admin.post(path, data=partial).status_code == 302
    session.expire_all()
    assert (session.get(Product, filler.id).material, session.get(Product, filler.id).has_lidocaine) == ("HA", False)
    hylenex = world.products["hylenex"]
    path = f"/catalog/{hylenex.id}/edit"
    assert admin.post(path, data=product_form(admin, path, hyaluronidase_source="human recombinant")).status_code \
        == 302
    session.expire_all()
    assert session.get(Product, hylenex.id).hyaluronidase_source == "human recombinant"


def test_a_fact_the_kind_does_not_have_is_refused_beside_it_and_its_group_stays_in_sight(browser_client, world,
                                                                                          session):
    admin = browser_client("admin")
    refused = _post_new(admin, "/catalog/new", NEW_TOXIN | {"material": "HA"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Only a filler has a material (HA, CaHA, PLLA) or lidocaine" in _beside(html, "p-material")
    assert 'class="kind-facts shows-error" data-kinds="filler"' in html  # the CSS never hides it
    assert 'value="room temperature"' in _beside(html, "p-storage")  # what was typed is kept


# --- 3. a unit that does not fit the kind ------------------------------------------------------------------


def test_qa_repro_a_toxin_in_bananas_is_refused_beside_the_base_unit(browser_client, world, session):
    admin = browser_client("admin")
    refused = _post_new(admin, "/catalog/new", NEW_TOXIN | {"base_unit": "bananas"})
    assert refused.status_code == 422
    assert ("A toxin is counted in U (the brand&#39;s units) or s.U (Speywood units), not “bananas”."
            in _beside(refused.get_data(as_text=True), "p-unit"))
    joining = _post_new(admin, "/catalog/new", NEW_TOXIN | {"kind": "filler", "form": "gel", "base_unit": "mL",
                                                            "molecule": "onabotulinumtoxinA", "beyond_use_hours": "",
                                                            "labelled_diluent": "", "labelled_diluent_ml": ""})
    assert joining.status_code == 422
    assert "but onabotulinumtoxinA is counted in U" in _beside(joining.get_data(as_text=True), "p-unit")
    session.expire_all()
    assert session.scalar(select(Product).where(Product.name == "Daxxify 50 U")) is None


# --- 4. next steps ------------------------------------------------------------------------------------------


def test_qa_repro_opening_a_clinic_says_where_to_go_next_with_links(browser_client, world, session):
    admin = browser_client("admin")
    opened = _post_new(admin, "/clinics", {"code": "PAR", "name": "Vialog Paris Opéra", "timezone": "Europe/Paris",
                                           "filler_hold_days": "0", "kit_warning_days": "30"})
    assert opened.status_code == 302, opened.get_data(as_text=True)
    paris = session.scalars(select(Clinic).where(Clinic.code == "PAR")).one()
    page = admin.get(opened.headers["Location"]).get_data(as_text=True)
    assert (f'Vialog Paris Opéra opened: <a href="/locations?clinic_id={paris.id}#new-location">add its locations</a> '
            f'next, then <a href="/users?clinic_id={paris.id}#new-user">its people</a>.') in page
    setup = page.split('id="clinic-setup"', 1)[1].split("</section>", 1)[0]
    assert f'<a href="/locations?clinic_id={paris.id}">0 locations in use</a>' in setup
    assert f'href="/locations?clinic_id={paris.id}#new-location">Add a location</a>: a fridge' in setup
    assert f'href="/users?clinic_id={paris.id}#new-user">Add a user at PAR</a>' in setup

    # The links lead to forms ready for the new clinic.
    locations = admin.get(f"/locations?clinic_id={paris.id}").get_data(as_text=True)
    new_form = locations.split('id="new-location"', 1)[1].split("</section>", 1)[0]
    assert re.search(rf'<option selected value="{paris.id}">|<option value="{paris.id}" selected>', new_form)
    users = admin.get(f"/users?clinic_id={paris.id}").get_data(as_text=True)
    assert f'id="new-clinic-{paris.id}" name="clinic_ids" value="{paris.id}" checked>' in users


def test_the_new_location_form_comes_before_the_chains_locations(browser_client, world, session):
    admin = browser_client("admin")
    html = admin.get("/locations").get_data(as_text=True)
    assert html.index('id="new-location"') < html.index('id="locations-list"') < html.index('id="location-')


# --- 5. the clinic's time zone, plain quantities ------------------------------------------------------------


def test_the_time_zone_says_one_example_and_suggests_zoneinfos_zones(browser_client, world):
    admin = browser_client("admin")
    for path in ("/clinics", f"/clinics/{world.clinic.id}"):
        html = admin.get(path).get_data(as_text=True)
        field = _beside(html, "clinic-timezone")
        assert "Time zone (e.g. Europe/Paris)" in field and 'list="time-zones"' in field
        zones = html.split('<datalist id="time-zones">', 1)[1].split("</datalist>", 1)[0]
        assert '<option value="Europe/Paris">' in zones and '<option value="America/New_York">' in zones
        assert "posixrules" not in zones
    assert 'placeholder="Europe/Paris"' in _beside(admin.get("/clinics").get_data(as_text=True), "clinic-timezone")


def test_qa_repro_the_product_form_shows_plain_quantities(browser_client, world, session):
    filler = world.filler  # 0.55 mL a syringe
    html = browser_client("admin").get(f"/catalog/{filler.id}/edit").get_data(as_text=True)
    assert 'value="0.55"' in _beside(html, "p-quantity") and "0.5500" not in html
    assert 'value="100"' in _beside(browser_client("admin").get(f"/catalog/{world.botox.id}/edit")
                                    .get_data(as_text=True), "p-quantity")


# --- 6. a clinic-level admin ---------------------------------------------------------------------------------


def test_qa_repro_a_clinic_level_admin_is_told_to_choose_their_own_clinics(browser_client, world, session):
    world.users["lon_admin"] = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    session.flush()
    lon_admin = browser_client("lon_admin")
    refused = _post_new(lon_admin, "/users", {"username": "new-nurse", "role": "nurse", "password": "long-enough-pw"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Choose the clinics this user works at: at least one of yours." in html
    assert "chain level" not in html.split("<main", 1)[1].split('id="new-user"', 1)[1].split("</section>", 1)[0]
    assert session.scalar(select(User).where(User.username == "new-nurse")) is None


# --- 7. receipts without a supplier -------------------------------------------------------------------------


def test_qa_repro_unticking_every_receipt_names_its_supplier_asks_why(browser_client, world, session):
    world.clinic.receipts_need_supplier = True
    session.flush()
    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    data = {"code": "LON", "name": world.clinic.name, "timezone": "Europe/London", "filler_hold_days": "0",
            "kit_warning_days": "30"}  # the box left unticked
    refused = admin.post(path, data=data | {"csrf_token": csrf_token(admin, path)})
    assert refused.status_code == 422
    reason = _beside(refused.get_data(as_text=True), "clinic-reason")
    assert "Why (required: this save lets boxes in without their supplier)" in reason
    assert "(every receipt names its supplier: on to off) loosens a safety rule" in reason
    session.expire_all()
    assert session.get(Clinic, world.clinic.id).receipts_need_supplier
    saved = admin.post(path, data=data | {"reason": "The lab integration sends none yet",
                                          "csrf_token": csrf_token(admin, path)})
    assert saved.status_code == 302
    session.expire_all()
    assert not session.get(Clinic, world.clinic.id).receipts_need_supplier
    trail = admin.get(path).get_data(as_text=True).split('<ul class="audit-trail">', 1)[1]
    assert "Loosened: every receipt names its supplier on to off; Why: The lab integration sends none yet" in trail
