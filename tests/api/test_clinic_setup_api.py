"""QA: a chain admin setting up a new clinic, through the API.

1. A fridge is temperature-sensitive unless the request says otherwise (the page now agrees: see
   tests/pages/test_clinic_setup_pages.py).
2. A product's label facts (storage, labelled diluent and its mL, lidocaine, material, hyaluronidase source, usual
   maximum a session, follow-up days, label source) are set through POST and PATCH /products, each only for the kinds
   it applies to (422 validation_error naming the field).
3. A base unit fits the product's kind (a toxin U or s.U, a filler mL, hyaluronidase USP U or IU, a supply each or
   mL), and a product joins a molecule only in units that add up with its products': a filler in U, a toxin in
   "bananas" or mL, a filler joining onabotulinumtoxinA are 422 validation_error, field base_unit.
6. A clinic-level admin making a user with no clinic is told to choose at least one of their clinics, never offered
   chain level.
7. Turning a clinic's "every receipt names its supplier" off loosens DOMAIN.md's rule: it needs an admin's reason,
   as a longer filler hold does. A shorter kit warning horizon loosens no rule (what counts towards a kit is
   unchanged): it needs none.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from inventory import demo
from inventory.admin import service
from inventory.cold_chain import service as cold_chain
from inventory.models import AuditEvent, Clinic, Location, Product, ProductForm, ProductKind, Role
from tests.api.conftest import error_code
from tests.factories import make_user

DAXXIFY_50 = {
    "name": "Daxxify 50 U", "kind": "neuromodulator", "base_unit": "U", "form": "powder", "units_per_container": "50",
    "molecule": "daxibotulinumtoxinA", "beyond_use_hours": 72,
}
LABEL = {
    "storage": "room temperature", "labelled_diluent": "0.9% sodium chloride, preservative-free",
    "labelled_diluent_ml": "0.6", "usual_max_units_per_session": "120", "follow_up_days": 14,
    "label_source": "Manufacturer's label, 2025",
}
FILLER = {"name": "Belotero Balance 1 mL", "kind": "filler", "form": "gel", "base_unit": "mL",
          "units_per_container": "1"}


def _refusal(response) -> tuple[int, str, str | None, str]:
    error = response.get_json()["error"]
    return response.status_code, error["code"], error["details"].get("field"), error["message"]


def _fresh(session, product_id: int) -> Product:
    session.expire_all()
    return session.get(Product, product_id)


# --- 1. a fridge is temperature-sensitive -------------------------------------------------------------


def test_a_fridge_made_through_the_api_is_temperature_sensitive_unless_the_request_says_otherwise(api, world):
    admin = api("admin")
    fridge = admin.post("/locations", {"clinic_id": world.clinic.id, "name": "Fridge 2", "kind": "fridge"})
    assert fridge.status_code == 201 and fridge.get_json()["temperature_sensitive"] is True
    unwatched = admin.post("/locations", {"clinic_id": world.clinic.id, "name": "Drinks fridge", "kind": "fridge",
                                          "temperature_sensitive": False})
    assert unwatched.status_code == 201 and unwatched.get_json()["temperature_sensitive"] is False
    room = admin.post("/locations", {"clinic_id": world.clinic.id, "name": "Room 3", "kind": "room"})
    assert room.get_json()["temperature_sensitive"] is False


# --- 2. the label's facts -----------------------------------------------------------------------------


def test_qa_repro_a_room_temperature_toxin_keeps_its_label_facts_and_is_not_sent_to_the_fridge(api, world, session):
    added = api("admin").post("/products", DAXXIFY_50 | LABEL)
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert {name: body[name] for name in LABEL} == LABEL | {"follow_up_days": 14}
    product = _fresh(session, body["id"])
    assert (product.storage, product.labelled_diluent, product.labelled_diluent_ml, product.usual_max_units_per_session,
            product.follow_up_days, product.label_source) == (
        "room temperature", "0.9% sodium chloride, preservative-free", Decimal("0.6"), Decimal("120"), 14,
        "Manufacturer's label, 2025")
    assert not cold_chain.needs_fridge(product)  # the label says room temperature: not the kind's 2-8 °C

    changed = api("manager").patch(f"/products/{product.id}", {"storage": "2-8 °C", "labelled_diluent_ml": "1.2",
                                                                "label_source": None})
    assert changed.status_code == 200, changed.get_json()
    product = _fresh(session, product.id)
    assert (product.storage, product.labelled_diluent_ml, product.label_source) == ("2-8 °C", Decimal("1.2"), "")
    assert cold_chain.needs_fridge(product)


def test_a_filler_and_a_hyaluronidase_record_their_own_facts(api, world, session):
    admin = api("admin")
    filler = admin.post("/products", FILLER | {"material": "HA", "has_lidocaine": True})
    assert filler.status_code == 201, filler.get_json()
    assert (filler.get_json()["material"], filler.get_json()["has_lidocaine"]) == ("HA", True)
    enzyme = admin.post("/products", {"name": "Amphadase 150 USP U/mL", "kind": "hyaluronidase", "form": "liquid",
                                      "base_unit": "USP U", "units_per_container": "150",
                                      "concentration_per_ml": "150", "molecule": "hyaluronidase",
                                      "hyaluronidase_source": "bovine", "storage": "2-8 °C"})
    assert enzyme.status_code == 201, enzyme.get_json()
    assert enzyme.get_json()["hyaluronidase_source"] == "bovine"


def test_a_label_fact_a_kind_or_form_does_not_have_is_refused_beside_its_field(api, world, session):
    admin = api("admin")
    assert _refusal(admin.post("/products", DAXXIFY_50 | {"material": "HA"}))[:3] == (
        422, "validation_error", "material")
    assert _refusal(admin.post("/products", DAXXIFY_50 | {"has_lidocaine": False}))[:3] == (
        422, "validation_error", "has_lidocaine")
    assert _refusal(admin.post("/products", FILLER | {"hyaluronidase_source": "ovine"}))[:3] == (
        422, "validation_error", "hyaluronidase_source")
    liquid = {"name": "Alluzience 200 s.U/mL", "kind": "neuromodulator", "base_unit": "s.U", "form": "liquid",
              "molecule": "abobotulinumtoxinA", "concentration_per_ml": "200", "volume_ml": "0.625",
              "beyond_use_hours": 24, "single_dose": True}
    status, code, field, message = _refusal(admin.post("/products", liquid | {"labelled_diluent_ml": "2.5"}))
    assert (status, code, field) == (422, "validation_error", "labelled_diluent_ml")
    assert message.startswith("Only a powder is reconstituted")
    status, code, field, message = _refusal(admin.post("/products", DAXXIFY_50 | {"labelled_diluent_ml": "25"}))
    assert (status, code, field) == (422, "validation_error", "labelled_diluent_ml")
    assert "25 mL of diluent is outside 0.5 to 10 mL" in message
    assert _refusal(admin.post("/products", DAXXIFY_50 | {"follow_up_days": 0}))[:2] == (422, "validation_error")
    assert session.scalar(select(Product).where(Product.name.in_(("Daxxify 50 U", "Belotero Balance 1 mL")))) is None
    # A change of one fact judges that fact: Botox takes no material.
    botox = world.botox
    assert _refusal(api("manager").patch(f"/products/{botox.id}", {"material": "HA"}))[:3] == (
        422, "validation_error", "material")


# --- 3. units fit the kind and the molecule ----------------------------------------------------------------


def test_qa_repro_a_unit_that_does_not_fit_the_kind_is_refused(api, world, session):
    admin = api("admin")
    status, code, field, message = _refusal(admin.post("/products", FILLER | {"base_unit": "U"}))
    assert (status, code, field, message) == (422, "validation_error", "base_unit",
                                              "A filler is counted in mL, not “U”.")
    botox_200 = {"name": "Botox Cosmetic 200 U", "kind": "neuromodulator", "form": "powder", "base_unit": "bananas",
                 "units_per_container": "200", "molecule": "onabotulinumtoxinA", "beyond_use_hours": 24}
    status, code, field, message = _refusal(admin.post("/products", botox_200))
    assert (status, code, field) == (422, "validation_error", "base_unit")
    assert message == "A toxin is counted in U (the brand's units) or s.U (Speywood units), not “bananas”."
    assert _refusal(admin.post("/products", botox_200 | {"base_unit": "mL"}))[:3] == (
        422, "validation_error", "base_unit")
    assert session.scalar(select(Product).where(Product.name == "Botox Cosmetic 200 U")) is None
    # A product never received may still change its unit, only to one of its kind.
    assert _refusal(admin.patch(f"/products/{world.filler.id}", {"base_unit": "U"}))[:3] == (
        422, "validation_error", "base_unit")
    # Spelt another way, a unit of the kind is the catalog's spelling.
    spelt = admin.post("/products", FILLER | {"base_unit": " ml "})
    assert spelt.status_code == 201 and spelt.get_json()["base_unit"] == "mL"


def test_qa_repro_a_product_joins_a_molecule_only_in_units_that_add_up(api, world, session):
    admin = api("admin")
    # A filler in mL named onabotulinumtoxinA would join Botox's 64 U session maximum and 400 U in 90 days.
    status, code, field, message = _refusal(admin.post("/products", FILLER | {"molecule": "onabotulinumtoxinA"}))
    assert (status, code, field) == (422, "validation_error", "base_unit")
    assert message == ("Belotero Balance 1 mL would be counted in mL, but onabotulinumtoxinA is counted in U (as Botox "
                       "Cosmetic 100 U): doses add up and are limited per molecule, so one molecule keeps one unit. Use "
                       "U, or name the product's own molecule.")
    details = response_details(admin.post("/products", FILLER | {"molecule": "onabotulinumtoxinA"}))
    assert {name: details[name] for name in ("field", "molecule", "units", "product_ids")} == {
        "field": "base_unit", "molecule": "onabotulinumtoxinA", "units": ["U", "mL"], "product_ids": [world.botox.id]}
    # Moved into the molecule later, the same.
    moved = admin.patch(f"/products/{world.filler.id}", {"molecule": "onabotulinumtoxinA"})
    assert _refusal(moved)[:3] == (422, "validation_error", "base_unit")
    assert _fresh(session, world.filler.id).molecule != "onabotulinumtoxinA"
    # Dysport's U and Azzalure's s.U are both abobotulinumtoxinA's Speywood units (DOMAIN.md): they add up.
    azzalure = admin.post("/products", {"name": "Azzalure 125 s.U", "kind": "neuromodulator", "form": "powder",
                                        "base_unit": "s.U", "units_per_container": "125",
                                        "molecule": "abobotulinumtoxinA", "beyond_use_hours": 24})
    assert azzalure.status_code == 201, azzalure.get_json()


def test_hyaluronidase_keeps_usp_units_and_iu_apart_so_never_under_one_dose_limit(api, world, session):
    admin = api("admin")
    hyalase = {"name": "Hyalase 1500 IU", "kind": "hyaluronidase", "form": "powder", "base_unit": "IU",
               "units_per_container": "1500", "molecule": "hyaluronidase", "beyond_use_hours": 6,
               "hyaluronidase_source": "ovine"}
    # USP U and IU are totalled apart (the patient's history, the stock): they may share the molecule ...
    added = admin.post("/products", hyalase)
    assert added.status_code == 201, added.get_json()
    # ... as long as no dose limit would add them up.
    limited = admin.patch(f"/products/{world.products['hylenex'].id}", {"session_max_units": "1500"})
    status, code, field, message = _refusal(limited)
    assert (status, code, field) == (422, "validation_error", "session_max_units")
    assert message == ("The molecule hyaluronidase is counted in USP U and in IU (as Hyalase 1500 IU), which never add "
                       "up: a dose limit on it would add them. Leave its dose limits empty.")
    assert _fresh(session, world.products["hylenex"].id).session_max_units is None


def test_an_iu_hyaluronidase_does_not_join_a_molecule_whose_usp_products_carry_a_dose_limit(api, world, session):
    admin = api("admin")
    assert admin.patch(f"/products/{world.products['hylenex'].id}", {"session_max_units": "1500"}).status_code == 200
    hyalase = {"name": "Hyalase 1500 IU", "kind": "hyaluronidase", "form": "powder", "base_unit": "IU",
               "units_per_container": "1500", "molecule": "hyaluronidase", "beyond_use_hours": 6}
    assert _refusal(admin.post("/products", hyalase))[:3] == (422, "validation_error", "base_unit")


def response_details(response) -> dict:
    return response.get_json()["error"]["details"]


def test_the_demo_catalog_fits_its_kinds_units_and_molecules():
    """Every demo product (as `vialog demo` loads it) passes the unit and label-fact rules, and each molecule is
    counted in units that add up (hyaluronidase's USP U and IU pools carry no dose limit)."""
    by_molecule: dict[str, list[Product]] = {}
    for spec in demo.PRODUCTS:
        product = Product(**{k: v for k, v in spec.items() if k != "gtin"})
        service.check_unit(product.kind, product.base_unit)
        assert service._label_fact_refusal(product, None) is None, product.name
        if product.molecule is not None:
            by_molecule.setdefault(product.molecule, []).append(product)
    for molecule, products in by_molecule.items():
        first = products[0]
        service._refuse_other_units(first.name, molecule, products[1:], first.kind, first.base_unit,
                                    {name: getattr(first, name) for name in service.LIMIT_FIELDS})
    assert {p.base_unit for p in by_molecule["hyaluronidase"]} == {"USP U", "IU"}
    assert all(p.form is ProductForm.POWDER for p in by_molecule["onabotulinumtoxinA"])
    assert {spec["kind"] for spec in demo.PRODUCTS} == set(ProductKind)


# --- 6. a clinic-level admin is told what they may do --------------------------------------------------------


def test_qa_repro_a_clinic_level_admin_making_a_user_with_no_clinic_is_not_offered_chain_level(api, world, session):
    lon_admin = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    session.flush()
    refused = api(lon_admin).post("/users", {"username": "new-nurse", "password": "long-enough-pw", "role": "nurse",
                                             "clinic_ids": [], "chain_level": False})
    assert _refusal(refused) == (422, "validation_error", "clinic_ids",
                                 "Choose the clinics this user works at: at least one of yours.")
    # A chain-level admin may still choose either.
    chain = api("admin").post("/users", {"username": "new-nurse", "password": "long-enough-pw", "role": "nurse",
                                         "clinic_ids": [], "chain_level": False})
    assert "or every clinic (chain level)" in _refusal(chain)[3]


# --- 7. clinic settings that loosen a rule -------------------------------------------------------------------


def test_qa_repro_switching_receipts_need_supplier_off_needs_an_admins_reason(api, world, session):
    admin = api("admin")
    path = f"/clinics/{world.clinic.id}"
    assert admin.patch(path, {"receipts_need_supplier": True}).status_code == 200  # stricter: no reason
    refused = admin.patch(path, {"receipts_need_supplier": False})
    assert _refusal(refused) == (
        422, "validation_error", "reason",
        "Letting boxes be received without their supplier at Clinic LON (every receipt names its supplier: on to "
        "off) loosens a safety rule: say why (e.g. an integration that does not send the supplier yet).")
    assert response_details(refused)["loosened"] == [{"clinic_id": world.clinic.id, "name": "Clinic LON",
                                                      "field": "receipts_need_supplier", "from": True, "to": False}]
    session.expire_all()
    assert session.get(Clinic, world.clinic.id).receipts_need_supplier
    saved = admin.patch(path, {"receipts_need_supplier": False, "reason": "The lab integration sends none yet"})
    assert saved.status_code == 200 and saved.get_json()["receipts_need_supplier"] is False
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "clinic.settings_changed")
                            .order_by(AuditEvent.id.desc())).first()
    assert event.details == {"receipts_need_supplier": {"from": True, "to": False},
                             "loosened": {"receipts_need_supplier": "on to off"},
                             "reason": "The lab integration sends none yet"}
    # Opened with it off, a clinic is at its default: nothing is loosened.
    opened = admin.post("/clinics", {"code": "par", "name": "Paris", "timezone": "Europe/Paris",
                                     "receipts_need_supplier": False})
    assert opened.status_code == 201


def test_a_shorter_kit_warning_horizon_needs_no_reason(api, world, session):
    """The horizon says how soon a kit turns amber, never what counts towards it: no safety rule is loosened."""
    shorter = api("admin").patch(f"/clinics/{world.clinic.id}", {"kit_warning_days": 7})
    assert shorter.status_code == 200 and shorter.get_json()["kit_warning_days"] == 7
    assert service.loosened_settings({"kit_warning_days": 30}, {"kit_warning_days": 7}) == []


def test_locations_list_them_all_once_made(api, world, session):
    """The API's new fridge is one the cold chain watches, as receiving reads it."""
    made = api("admin").post("/locations", {"clinic_id": world.clinic.id, "name": "Fridge 3", "kind": "fridge"})
    location = session.get(Location, made.get_json()["id"])
    assert cold_chain.ensure_kept_cold(world.botox, location, confirmed=False) is False
    assert error_code(api("admin").post("/locations", {"clinic_id": world.clinic.id, "name": "Fridge 3",
                                                       "kind": "fridge"})) == "duplicate_name"
