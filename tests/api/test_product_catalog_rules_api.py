"""Acceptance findings on the catalog, through the API:

- a single-dose product is never multi-patient (422 on POST and PATCH), and a vial of one stays with its first
  patient even when a row from before says otherwise; making a product multi-patient needs an admin's reason;
- products are the chain's: a clinic-level manager or admin may not add, change or retire one (403);
- a GTIN is not taken off a product that has lots on file (409 gtin_in_use); adding one stays free;
- product names are unique whatever their case and spaces (409 duplicate_name).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.admin.service import PRODUCTS_ARE_THE_CHAINS
from inventory.counterfeit.models import Supplier
from inventory.models import AuditEvent, Container, ContainerState, Product, Role
from tests.api.conftest import error_code
from tests.api.test_reverse_after_discard_api import treatment_for
from tests.factories import make_user

FAR = dt.date(2099, 12, 31)  # requests run at the real clock: lots must outlive it
SHARING_WHY = "say why (e.g. the clinic's protocol for sharing vials)."
SINGLE_DOSE_TOXIN = {
    "name": "Alluzience 200 s.U/mL 0.25 mL", "kind": "neuromodulator", "base_unit": "s.U", "form": "liquid",
    "molecule": "abobotulinumtoxinA", "concentration_per_ml": "200", "volume_ml": "0.25", "beyond_use_hours": 24,
    "single_dose": True, "gtins": ["4006381333931"],
}


def _error(response) -> dict:
    return response.get_json()["error"]


def _fresh(session, product: Product) -> Product:
    session.expire_all()
    return session.get(Product, product.id)


def _events(session, product: Product, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "product", AuditEvent.object_id == str(product.id), AuditEvent.action == action)
        .order_by(AuditEvent.id)))


def _clinic_admin(world, session):
    """An admin of the London clinic only."""
    if "lon_admin" not in world.users:
        world.users["lon_admin"] = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
        session.flush()
    return world.users["lon_admin"]


# --- 1. single-dose is never shared ----------------------------------------------------------------


def test_qa_repro_a_single_dose_product_is_not_added_multi_patient(api, world, session):
    refused = api("admin").post("/products", SINGLE_DOSE_TOXIN | {"multi_patient": True})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    assert _error(refused)["details"]["field"] == "multi_patient"
    assert _error(refused)["message"].startswith(
        "Alluzience 200 s.U/mL 0.25 mL is single-dose: an opened vial is used for one patient only, so it cannot be "
        "shared between patients.")
    assert session.scalar(select(Product).where(Product.name == SINGLE_DOSE_TOXIN["name"])) is None
    assert api("admin").post("/products", SINGLE_DOSE_TOXIN).status_code == 201  # single-dose alone is fine


def test_qa_repro_hylenex_is_not_made_multi_patient_even_with_a_reason(api, world, session):
    hylenex = world.products["hylenex"]
    assert hylenex.is_single_dose
    for change in ({"multi_patient": True}, {"multi_patient": True, "reason": "We share vials"}):
        refused = api("admin").patch(f"/products/{hylenex.id}", change)
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
        assert _error(refused)["details"]["field"] == "multi_patient"
        assert "is single-dose" in _error(refused)["message"]
    assert not _fresh(session, hylenex).is_multi_patient
    assert _events(session, hylenex, "product.sharing_changed") == []


def test_a_multi_patient_product_is_not_made_single_dose_without_unsharing_it(api, world, session):
    dysport = world.products["dysport"]
    shared = api("admin").patch(f"/products/{dysport.id}", {"multi_patient": True, "reason": "Clinic protocol CP-3"})
    assert shared.status_code == 200, shared.get_json()
    refused = api("admin").patch(f"/products/{dysport.id}", {"single_dose": True})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    both = api("admin").patch(f"/products/{dysport.id}", {"single_dose": True, "multi_patient": False})
    assert both.status_code == 200, both.get_json()
    assert (both.get_json()["single_dose"], both.get_json()["multi_patient"]) == (True, False)


def test_a_single_dose_vial_marked_shared_before_the_rule_still_serves_one_patient(api, world, session):
    """Defence in depth: a row from before the rule (single-dose and multi-patient) is read as single-patient."""
    hylenex = world.products["hylenex"]
    hylenex.is_multi_patient = True
    session.flush()
    vial = world.container("hylenex", lot="HYL-OLD", expiry=FAR)
    nurse = api("nurse")
    first = treatment_for(nurse, world, "MRN-1")
    drawn = nurse.post(f"/treatments/{first['id']}/draws",
                       {"container": vial.label_code, "quantity": "30", "unit": "U", "area": "glabella"})
    assert drawn.status_code == 201, drawn.get_json()
    second = treatment_for(nurse, world, "MRN-2")
    other = nurse.post(f"/treatments/{second['id']}/draws",
                       {"container": vial.label_code, "quantity": "30", "unit": "U", "area": "glabella"})
    assert (other.status_code, error_code(other)) == (409, "container_other_patient"), other.get_json()
    closed = nurse.post(f"/treatments/{first['id']}/close", {})
    assert closed.status_code == 200, closed.get_json()
    assert [(m["container"]["label_code"], m["container"]["state"]) for m in closed.get_json()["wasted"]] == [
        (vial.label_code, "discarded")]
    after = nurse.post(f"/treatments/{second['id']}/draws",
                       {"container": vial.label_code, "quantity": "30", "unit": "U", "area": "glabella"})
    assert after.status_code == 409, after.get_json()
    session.expire_all()
    assert session.get(Container, vial.id).state is ContainerState.DISCARDED


def test_making_a_toxin_multi_patient_needs_an_admins_reason_kept_in_the_audit_trail(api, world, session):
    botox = world.botox
    refused = api("admin").patch(f"/products/{botox.id}", {"multi_patient": True})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    error = _error(refused)
    assert error["message"] == ("Letting patients share an opened Botox Cosmetic 100 U (single patient to "
                                f"multi-patient within beyond-use time) loosens a safety rule: {SHARING_WHY}")
    assert error["details"]["field"] == "reason"
    assert error["details"]["loosened"] == [{"product_id": botox.id, "name": botox.name, "field": "multi_patient",
                                             "from": False, "to": True}]
    assert not _fresh(session, botox).is_multi_patient
    blank = api("admin").patch(f"/products/{botox.id}", {"multi_patient": True, "reason": "  "})
    assert (blank.status_code, error_code(blank)) == (422, "validation_error")

    saved = api("admin").patch(f"/products/{botox.id}", {"multi_patient": True, "reason": "Clinic protocol CP-3"})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["multi_patient"] is True
    (event,) = _events(session, botox, "product.sharing_changed")
    assert event.details == {"is_multi_patient": {"from": False, "to": True}, "reason": "Clinic protocol CP-3",
                             "loosened": {"sharing": "single patient to multi-patient within beyond-use time"}}
    assert event.actor_id == world.users["admin"].id
    # Back to one patient per vial tightens: no reason needed.
    assert api("admin").patch(f"/products/{botox.id}", {"multi_patient": False}).status_code == 200


def test_sharing_and_a_looser_limit_at_once_say_both(api, world, session):
    botox = world.botox
    refused = api("admin").patch(f"/products/{botox.id}", {"multi_patient": True, "session_max_units": "500"})
    assert error_code(refused) == "validation_error"
    assert [item["field"] for item in _error(refused)["details"]["loosened"]] == ["multi_patient",
                                                                                 "session_max_units"]
    assert "share an opened" in _error(refused)["message"] and "Raising the session maximum" in _error(refused)[
        "message"]


# --- 2. products are the chain's ---------------------------------------------------------------------


def test_qa_repro_a_new_york_manager_may_not_retire_botox_for_every_clinic(api, world, session):
    botox = world.botox
    refused = api(world.nyc_manager()).patch(f"/products/{botox.id}", {"active": False})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.get_json()
    assert _error(refused)["message"] == PRODUCTS_ARE_THE_CHAINS
    assert _fresh(session, botox).is_active
    receipt = api("clinic_manager").post("/receipts", {
        "gtin": botox.gtins[0].gtin, "lot": "LON1", "expiry": str(FAR), "containers": 1,
        "location_id": world.location().id, "supplier_id": world.supplier.id})
    assert receipt.status_code == 201, receipt.get_json()


def test_qa_repro_a_london_admin_may_not_loosen_a_chain_wide_dose_limit(api, world, session):
    botox = world.botox
    refused = api(_clinic_admin(world, session)).patch(
        f"/products/{botox.id}", {"session_max_units": "100", "reason": "London protocol"})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.get_json()
    assert _error(refused)["message"] == PRODUCTS_ARE_THE_CHAINS
    assert _fresh(session, botox).session_max_units == 64


@pytest.mark.parametrize("who", ["clinic_manager", "lon_admin"])
def test_a_clinic_level_user_may_not_add_or_change_a_product(api, world, session, who):
    user = _clinic_admin(world, session) if who == "lon_admin" else world.users[who]
    client = api(user)
    added = client.post("/products", SINGLE_DOSE_TOXIN)
    assert (added.status_code, error_code(added)) == (403, "forbidden")
    changed = client.patch(f"/products/{world.filler.id}", {"storage": "below 25 °C"})
    assert (changed.status_code, error_code(changed)) == (403, "forbidden")
    assert session.scalar(select(Product).where(Product.name == SINGLE_DOSE_TOXIN["name"])) is None
    assert client.get("/products").status_code == 200  # reading the catalog stays open


def test_chain_level_managers_and_admins_still_change_the_catalog(api, world):
    assert api("manager").patch(f"/products/{world.filler.id}", {"storage": "below 25 °C"}).status_code == 200
    assert api("admin").post("/products", SINGLE_DOSE_TOXIN).status_code == 201


def test_a_clinic_level_admin_is_told_who_authorises_a_supplier(api, world, session):
    grey = Supplier(name="Grey Market Ltd", is_authorised=False)
    session.add(grey)
    session.flush()
    refused = api(_clinic_admin(world, session)).patch(f"/suppliers/{grey.id}", {"authorised": True})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    message = _error(refused)["message"]
    assert message == ("The authorised suppliers are the chain's: a chain-level manager or chain-level admin "
                       "authorises one.")
    assert "or an admin" not in message


# --- 3. GTINs stay while lots are on file --------------------------------------------------------------


def test_qa_repro_the_gtins_of_botox_in_stock_are_not_removed(api, world, session):
    botox = world.botox
    gtin = botox.gtins[0].gtin
    world.receive("botox", lot="GT1", expiry=FAR)
    refused = api("admin").patch(f"/products/{botox.id}", {"gtins": []})
    assert (refused.status_code, error_code(refused)) == (409, "gtin_in_use"), refused.get_json()
    error = _error(refused)
    assert error["message"].startswith(f"GTIN {gtin} cannot be taken off Botox Cosmetic 100 U: 1 lot(s) of it are on "
                                       "file and 1 container in stock")
    assert (error["details"]["gtin"], error["details"]["product_id"], error["details"]["lots"]) == (gtin, botox.id, 1)
    assert [g.gtin for g in _fresh(session, botox).gtins] == [gtin]
    replaced = api("manager").patch(f"/products/{botox.id}", {"gtins": ["5901234123457"]})
    assert (replaced.status_code, error_code(replaced)) == (409, "gtin_in_use")
    scanned = api("nurse").post("/scans", {"code": gtin})
    assert scanned.status_code == 200 and scanned.get_json()["product"]["id"] == botox.id


def test_a_gtin_stays_while_lots_are_on_file_even_with_no_stock_left(api, world, session):
    dysport = world.products["dysport"]
    gtin = dysport.gtins[0].gtin
    vial = world.container("dysport", lot="USED1", expiry=FAR)
    wasted = api("nurse").post(f"/containers/{vial.label_code}/waste", {"reason": "dropped"})
    assert wasted.status_code == 201, wasted.get_json()
    session.expire_all()
    assert session.get(Container, vial.id).state is ContainerState.DISCARDED  # no stock left anywhere
    refused = api("admin").patch(f"/products/{dysport.id}", {"gtins": []})
    assert (refused.status_code, error_code(refused)) == (409, "gtin_in_use")
    assert _error(refused)["details"]["gtin"] == gtin and _error(refused)["details"]["containers"] == 0
    assert "container(s) in stock" not in _error(refused)["message"]


def test_adding_a_gtin_stays_free_and_a_product_with_no_lot_loses_one(api, world, session):
    botox = world.botox
    gtin = botox.gtins[0].gtin
    world.receive("botox", lot="GT2", expiry=FAR)
    added = api("manager").patch(f"/products/{botox.id}", {"gtins": [gtin, "5901234123457"]})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["gtins"] == [gtin, "05901234123457"]
    daxxify = world.products["daxxify"]  # never received
    cleared = api("manager").patch(f"/products/{daxxify.id}", {"gtins": []})
    assert cleared.status_code == 200 and cleared.get_json()["gtins"] == []


# --- 4. names are unique whatever their case and spaces ---------------------------------------------------


@pytest.mark.parametrize("name", ["botox cosmetic 100 u", "BOTOX COSMETIC 100 U", "  Botox  Cosmetic 100U ",
                                  "Ｂｏｔｏｘ Cosmetic 100 U"])
def test_qa_repro_a_name_that_reads_the_same_as_botox_is_refused(api, world, session, name):
    refused = api("manager").post("/products", SINGLE_DOSE_TOXIN | {"name": name, "gtins": []})
    assert (refused.status_code, error_code(refused)) == (409, "duplicate_name"), refused.get_json()
    assert _error(refused)["message"].startswith("A product named “Botox Cosmetic 100 U” is already in the catalog")
    assert "\\x" not in _error(refused)["message"]  # the name as typed, never Python's escapes of it
    assert _error(refused)["details"]["field"] == "name"
    renamed = api("manager").patch(f"/products/{world.products['dysport'].id}", {"name": name})
    assert (renamed.status_code, error_code(renamed)) == (409, "duplicate_name")


def test_a_product_may_change_the_case_of_its_own_name(api, world, session):
    botox = world.botox
    answer = api("manager").patch(f"/products/{botox.id}", {"name": "BOTOX Cosmetic 100 U"})
    assert answer.status_code == 200 and answer.get_json()["name"] == "BOTOX Cosmetic 100 U"


def test_a_products_quantities_are_decimal_strings_as_every_quantity_of_the_api(api, world, session):
    # API.md: quantities are strings, never floats; the OpenAPI document says so, and the server agrees.
    admin = api("admin")
    for value in (200, 0.5, "0", "-1"):
        refused = admin.patch(f"/products/{world.botox.id}", {"session_max_units": value, "reason": "x"})
        assert (refused.status_code, refused.get_json()["error"]["details"]["field"]) == (422, "session_max_units")
    assert _fresh(session, world.botox).session_max_units == 64
    schemas = admin.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["ProductChange"]["properties"]["concentration_per_ml"]["anyOf"][0]["type"] == "string"
    assert schemas["UserIn"]["properties"]["password"]["minLength"] == 10  # the policy's length, as the server asks


def test_a_product_name_is_one_line_of_plain_text(api, world, session):
    refused = api("manager").post("/products", SINGLE_DOSE_TOXIN | {"name": "Other\tThing", "gtins": []})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert _error(refused)["details"]["field"] == "name"
    # So are the names the regulator's report prints on one line: the manufacturer's, the brand.
    for field in ("manufacturer", "brand"):
        split = api("manager").patch(f"/products/{world.botox.id}", {field: "Allergan\nAbbVie"})
        assert (split.status_code, _error(split)["details"]["field"]) == (422, field)
    assert api("manager").patch(f"/products/{world.botox.id}", {"brand": ""}).status_code == 200
