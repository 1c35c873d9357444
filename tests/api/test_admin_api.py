"""Administration through the API: users and their sessions, products, locations and clinics (issue 18)."""

from __future__ import annotations

from sqlalchemy import select

from inventory.admin import service
from inventory.models import ApiToken, AuditEvent, Location, LocationKind, Product, User
from inventory.models.base import utcnow
from tests.api.conftest import error_code
from tests.factories import EVERYWHERE, HASHER, PASSWORD

NEW_PASSWORD = "a-brand-new-secret-42"


def _events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- users ------------------------------------------------------------------------------------------


def test_an_admin_lists_creates_and_reads_users_and_never_sees_a_password(api, world, session):
    admin = api("admin")
    created = admin.post("/users", {"username": "new-nurse", "password": "long-enough-pw", "role": "nurse",
                                    "clinic_ids": [world.clinic.id]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["username"] == "new-nurse" and body["role"] == "nurse" and body["clinic_ids"] == [world.clinic.id]
    assert body["active"] is True and "password" not in body and "password_hash" not in body
    listed = admin.get("/users").get_json()["users"]
    assert "new-nurse" in {u["username"] for u in listed}
    assert all("password" not in u and "password_hash" not in u for u in listed)
    assert admin.get(f"/users/{body['id']}").get_json()["username"] == "new-nurse"
    chain = admin.post("/users", {"username": "chain-safety", "password": "long-enough-pw", "role": "safety_lead"})
    assert chain.status_code == 201 and chain.get_json()["clinic_ids"] == []  # empty: chain level
    assert [e.object_id for e in _events(session, "user.created")] == [str(body["id"]), str(chain.get_json()["id"])]


def test_a_new_user_chooses_their_own_password_first_and_a_taken_username_or_weak_password_is_refused(
        api, world, session):
    admin = api("admin")
    created = admin.post("/users", {"username": "kim", "password": "long-enough-pw", "role": "manager"})
    assert created.get_json()["must_change_password"] is True  # the admin knows this one
    assert created.get_json()["last_login_at"] is None
    first = api().post("/auth/tokens", {"username": "kim", "password": "long-enough-pw"})
    assert (first.status_code, error_code(first)) == (403, "password_change_required")
    assert "An admin set your password" in first.get_json()["error"]["message"]
    kim = session.scalar(select(User).where(User.username == "kim"))
    service.change_password(session, HASHER, actor=kim, scope=EVERYWHERE, user_id=kim.id, password=NEW_PASSWORD,
                            current_password="long-enough-pw", now=utcnow())  # as the password page does
    session.commit()
    token = api().post("/auth/tokens", {"username": "kim", "password": NEW_PASSWORD})
    assert token.status_code == 201 and token.get_json()["role"] == "manager"
    kim = next(u for u in admin.get("/users").get_json()["users"] if u["username"] == "kim")
    assert kim["last_login_at"] is not None and kim["must_change_password"] is False  # an API sign-in counts
    taken = admin.post("/users", {"username": "kim", "password": "long-enough-pw", "role": "nurse"})
    assert (taken.status_code, error_code(taken)) == (409, "username_taken")
    weak = admin.post("/users", {"username": "lee", "password": "short", "role": "nurse"})
    assert (weak.status_code, error_code(weak)) == (422, "validation_error")
    assert weak.get_json()["error"]["details"]["field"] == "password"  # the client knows which field to fix
    bad_role = admin.post("/users", {"username": "lee", "password": "long-enough-pw", "role": "owner"})
    assert (bad_role.status_code, error_code(bad_role)) == (422, "validation_error")


def test_only_admins_manage_users(api, world):
    for who in ("nurse", "manager", "safety"):
        assert error_code(api(who).get("/users")) == "forbidden"
        refused = api(who).post("/users", {"username": "x1", "password": "long-enough-pw", "role": "admin"})
        assert refused.status_code == 403


def test_changing_role_and_clinics_is_audited(api, world, session):
    nurse = world.users["nurse"]
    answer = api("admin").patch(f"/users/{nurse.id}", {"role": "manager", "clinic_ids": [world.other_clinic.id]})
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["role"], answer.get_json()["clinic_ids"]) == ("manager", [world.other_clinic.id])
    (event,) = _events(session, "user.changed")
    assert event.details["role"] == {"from": "nurse", "to": "manager"}
    assert event.details["clinic_ids"] == {"from": [world.clinic.id], "to": [world.other_clinic.id]}
    assert event.actor_id == world.users["admin"].id


def test_deactivating_ends_the_users_tokens_at_once_and_reactivating_lets_them_sign_in(api, world, session):
    nurse_api = api("nurse")
    assert nurse_api.get("/clinics").status_code == 200
    nurse = world.users["nurse"]
    answer = api("admin").patch(f"/users/{nurse.id}", {"active": False})
    assert answer.status_code == 200 and answer.get_json()["active"] is False
    assert error_code(nurse_api.get("/clinics")) == "unauthorized"  # the token that was live a moment ago
    session.expire_all()
    assert all(t.revoked_at is not None for t in session.scalars(select(ApiToken).where(ApiToken.user_id == nurse.id)))
    signin = api().post("/auth/tokens", {"username": "nurse", "password": PASSWORD})
    assert signin.status_code == 401
    assert [e.object_id for e in _events(session, "user.deactivated")] == [str(nurse.id)]
    assert api("admin").patch(f"/users/{nurse.id}", {"active": True}).get_json()["active"] is True
    assert api().post("/auth/tokens", {"username": "nurse", "password": PASSWORD}).status_code == 201
    assert len(_events(session, "user.reactivated")) == 1


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(api, world, session):
    admin = world.users["admin"]
    for change in ({"active": False}, {"role": "manager"}):
        refused = api("admin").patch(f"/users/{admin.id}", change)
        assert (refused.status_code, error_code(refused)) == (409, "last_admin"), change
    session.expire_all()
    assert session.get(User, admin.id).is_active
    second = api("admin").post("/users", {"username": "admin-2", "password": "long-enough-pw", "role": "admin"})
    assert second.status_code == 201
    assert api("admin").patch(f"/users/{admin.id}", {"role": "manager"}).status_code == 200


def test_an_admin_reset_signs_the_user_out_and_they_choose_a_new_password_first(api, world, session):
    nurse = world.users["nurse"]
    nurse_api = api("nurse")
    reset = api("admin").post(f"/users/{nurse.id}/password", {"password": "temporary-pass-1"})
    assert reset.status_code == 204 and reset.get_data() == b""
    assert nurse_api.get("/clinics").status_code == 401
    signin = api().post("/auth/tokens", {"username": "nurse", "password": "temporary-pass-1"})
    assert (signin.status_code, error_code(signin)) == (403, "password_change_required")
    session.expire_all()
    assert session.get(User, nurse.id).must_change_password
    assert len(_events(session, "user.password_reset")) == 1


def test_a_user_changes_their_own_password_with_the_current_one_and_other_tokens_end(api, world, session):
    nurse = world.users["nurse"]
    this, other = api("nurse"), api("nurse")
    wrong = this.post(f"/users/{nurse.id}/password", {"password": NEW_PASSWORD, "current_password": "nope-nope-1"})
    assert (wrong.status_code, error_code(wrong)) == (422, "validation_error")
    missing = this.post(f"/users/{nurse.id}/password", {"password": NEW_PASSWORD})
    assert missing.status_code == 422
    changed = this.post(f"/users/{nurse.id}/password", {"password": NEW_PASSWORD, "current_password": PASSWORD})
    assert changed.status_code == 204
    assert this.get("/clinics").status_code == 200  # the request's own token goes on
    assert other.get("/clinics").status_code == 401  # every other one ended
    assert api().post("/auth/tokens", {"username": "nurse", "password": NEW_PASSWORD}).status_code == 201
    assert len(_events(session, "user.password_changed")) == 1


def test_a_non_admin_may_not_set_another_users_password(api, world):
    refused = api("nurse").post(f"/users/{world.users['manager'].id}/password", {"password": NEW_PASSWORD})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")


def test_resetting_a_deactivated_users_password_answers_user_inactive(api, world):
    nurse = world.users["nurse"]
    api("admin").patch(f"/users/{nurse.id}", {"active": False})
    refused = api("admin").post(f"/users/{nurse.id}/password", {"password": NEW_PASSWORD})
    assert (refused.status_code, error_code(refused)) == (409, "user_inactive")


def test_a_clinic_level_admin_manages_only_users_of_their_clinics(api, world, session):
    from tests.factories import make_user
    from inventory.models import Role

    lon_admin = make_user(session, "lon-admin", Role.ADMIN, [world.clinic])
    client = api(lon_admin)
    names = {u["username"] for u in client.get("/users").get_json()["users"]}
    assert "nurse" in names and "nyc-nurse" not in names and "admin" not in names
    assert client.get(f"/users/{world.users['other_nurse'].id}").status_code == 404
    chain = client.post("/users", {"username": "chain-x", "password": "long-enough-pw", "role": "nurse"})
    assert chain.status_code == 403
    elsewhere = client.post("/users", {"username": "nyc-x", "password": "long-enough-pw", "role": "nurse",
                                       "clinic_ids": [world.other_clinic.id]})
    assert elsewhere.status_code == 404


def test_logout_revokes_only_the_token_it_carries(api, world):
    first, second = api("nurse"), api("nurse")
    answer = first.post("/auth/logout")
    assert answer.status_code == 204 and answer.get_data() == b""
    assert first.get("/clinics").status_code == 401
    assert second.get("/clinics").status_code == 200
    assert error_code(api().post("/auth/logout")) == "unauthorized"


# --- catalog ----------------------------------------------------------------------------------------

LIQUID_TOXIN = {
    "name": "Alluzience 200 s.U/mL 0.25 mL", "kind": "neuromodulator", "base_unit": "s.U", "form": "liquid",
    "molecule": "abobotulinumtoxinA", "concentration_per_ml": "200", "volume_ml": "0.25", "beyond_use_hours": 24,
    "single_dose": True, "gtins": ["4006381333931"],
}


def test_a_manager_adds_a_liquid_toxin_whose_units_follow_from_concentration_and_volume(api, world, session):
    answer = api("manager").post("/products", LIQUID_TOXIN)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["units_per_container"], body["concentration_per_ml"], body["volume_ml"]) == ("50", "200", "0.25")
    assert body["form"] == "liquid" and body["requires_reconstitution"] is False and body["single_dose"] is True
    assert body["gtins"] == ["04006381333931"]  # stored as GTIN-14
    assert body["multi_patient"] is False and body["active"] is True
    assert len(_events(session, "product.created")) == 1
    listed = {p["name"]: p for p in api("nurse").get("/products").get_json()["products"]}
    assert listed[LIQUID_TOXIN["name"]]["molecule"] == "abobotulinumtoxinA"


def test_a_gtin_with_a_wrong_check_digit_or_on_another_product_is_refused(api, world):
    manager = api("manager")
    bad = manager.post("/products", LIQUID_TOXIN | {"gtins": ["4006381333932"]})
    assert (bad.status_code, error_code(bad)) == (422, "bad_check_digit")
    taken_gtin = world.botox.gtins[0].gtin
    taken = manager.post("/products", LIQUID_TOXIN | {"gtins": [taken_gtin]})
    assert (taken.status_code, error_code(taken)) == (409, "duplicate_gtin")
    assert world.botox.name in taken.get_json()["error"]["message"]
    same_name = manager.post("/products", LIQUID_TOXIN | {"name": world.botox.name, "gtins": []})
    assert (same_name.status_code, error_code(same_name)) == (409, "duplicate_name")


def test_a_liquid_toxin_needs_its_concentration_and_a_toxin_its_beyond_use_hours(api, world):
    manager = api("manager")
    no_strength = {k: v for k, v in LIQUID_TOXIN.items() if k != "concentration_per_ml"}
    assert error_code(manager.post("/products", no_strength)) == "validation_error"
    no_hours = {k: v for k, v in LIQUID_TOXIN.items() if k != "beyond_use_hours"}
    assert error_code(manager.post("/products", no_hours)) == "validation_error"


def test_sharing_policy_and_dose_limits_are_the_admins_and_audited(api, world, session):
    botox = world.botox
    for change in ({"multi_patient": True}, {"session_max_units": "50"}, {"retreat_interval_days": 30}):
        refused = api("manager").patch(f"/products/{botox.id}", change)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), change
    # Restating the policy as it stands (a form sends every field) is no change.
    assert api("manager").patch(f"/products/{botox.id}", {"storage": "2-8 °C", "session_max_units": "64"}).status_code \
        == 200
    answer = api("admin").patch(f"/products/{botox.id}", {"multi_patient": True, "retreat_interval_days": 30,
                                                          "reason": "Clinic protocol CP-3"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["multi_patient"] is True and answer.get_json()["retreat_interval_days"] == 30
    (sharing,) = _events(session, "product.sharing_changed")
    assert sharing.details == {"is_multi_patient": {"from": False, "to": True}, "reason": "Clinic protocol CP-3",
                               "loosened": {"sharing": "single patient to multi-patient within beyond-use time"}}
    assert any(e.details.get("retreat_interval_days") for e in _events(session, "product.changed"))


def test_patching_gtins_replaces_them_and_retiring_stops_receiving_but_keeps_history(api, world, session):
    container = world.container("filler", lot="KEEP1")
    filler = world.filler
    old = filler.gtins[0].gtin
    answer = api("manager").patch(f"/products/{filler.id}", {"gtins": [old, "5901234123457"]})
    assert answer.status_code == 200 and answer.get_json()["gtins"] == [old, "05901234123457"]
    retired = api("manager").patch(f"/products/{filler.id}", {"active": False})
    assert retired.status_code == 200 and retired.get_json()["active"] is False
    receipt = api("manager").post("/receipts", {"gtin": old, "lot": "NEW1", "expiry": "2027-12-31", "containers": 1,
                                                "location_id": world.location().id})
    assert (receipt.status_code, error_code(receipt)) == (409, "product_retired")
    assert api("nurse").get(f"/containers/{container.label_code}").status_code == 200  # its stock and history stay
    assert len(_events(session, "product.retired")) == 1


# --- locations --------------------------------------------------------------------------------------


def test_a_location_name_taken_in_another_case_or_spacing_is_a_duplicate(api, world, session):
    """QA: "medicines FRIDGE" was added beside "Medicines fridge": a nurse could not tell which holds the stock."""
    manager = api("clinic_manager")
    for name in ("FRIDGE", "  fridge ", "room  1"):
        taken = manager.post("/locations", {"clinic_id": world.clinic.id, "name": name, "kind": "fridge"})
        assert (taken.status_code, error_code(taken)) == (409, "duplicate_name"), name
    cart = world.location("Cart")
    assert manager.patch(f"/locations/{cart.id}", {"name": "CART"}).status_code == 200  # its own name, recased
    assert manager.patch(f"/locations/{cart.id}", {"name": "fridge"}).status_code == 409


def test_a_manager_adds_and_edits_a_location_of_their_clinic(api, world, session):
    manager = api("clinic_manager")
    created = manager.post("/locations", {"clinic_id": world.clinic.id, "name": "Fridge 2", "kind": "fridge"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["temperature_sensitive"] is True and body["active"] is True  # a fridge by default
    changed = manager.patch(f"/locations/{body['id']}", {"name": "Vaccine fridge", "temperature_sensitive": False})
    assert changed.get_json()["name"] == "Vaccine fridge" and changed.get_json()["temperature_sensitive"] is False
    duplicate = manager.post("/locations", {"clinic_id": world.clinic.id, "name": "Cart", "kind": "cart"})
    assert (duplicate.status_code, error_code(duplicate)) == (409, "duplicate_name")
    elsewhere = manager.post("/locations", {"clinic_id": world.other_clinic.id, "name": "X", "kind": "room"})
    assert elsewhere.status_code == 404
    assert manager.patch(f"/locations/{world.location(clinic=world.other_clinic).id}", {"name": "Y"}).status_code == 404
    assert error_code(api("nurse").post("/locations", {"clinic_id": world.clinic.id, "name": "Z", "kind": "room"})) \
        == "forbidden"
    assert {e.action for e in _events(session, "location.created")} == {"location.created"}


def test_retiring_a_location_that_holds_stock_is_refused_with_a_clear_message(api, world, session):
    fridge = world.location()
    world.container("botox", lot="STAYS1", location=fridge)
    refused = api("manager").patch(f"/locations/{fridge.id}", {"active": False})
    assert (refused.status_code, error_code(refused)) == (409, "location_holds_stock")
    assert "still holds 1 container" in refused.get_json()["error"]["message"]
    empty = world.location("Room 1")
    assert api("manager").patch(f"/locations/{empty.id}", {"active": False}).get_json()["active"] is False
    session.expire_all()
    assert not session.get(Location, empty.id).is_active
    assert empty.id not in {loc["id"] for loc in api("manager").get("/locations").get_json()["locations"]}


def test_a_kit_location_keeps_its_kind(api, world, session):
    room = world.location("Room 1")
    refused = api("manager").patch(f"/locations/{room.id}", {"kind": "kit"})
    assert error_code(refused) == "validation_error"
    assert session.get(Location, room.id).kind is LocationKind.ROOM


# --- clinics ----------------------------------------------------------------------------------------


def test_an_admin_opens_a_clinic_and_changes_its_settings_each_change_audited(api, world, session):
    admin = api("admin")
    created = admin.post("/clinics", {"code": "par", "name": "Paris", "timezone": "Europe/Paris",
                                      "filler_hold_days": 2, "reason": "Paris keeps syringes for touch-ups"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["code"], body["filler_hold_days"], body["kit_warning_days"]) == ("PAR", 2, 30)
    changed = admin.patch(f"/clinics/{body['id']}", {"kit_warning_days": 45, "timezone": "Europe/Berlin"})
    assert changed.status_code == 200 and changed.get_json()["kit_warning_days"] == 45
    (event,) = _events(session, "clinic.settings_changed")
    assert event.details == {"kit_warning_days": {"from": 30, "to": 45},
                             "timezone": {"from": "Europe/Paris", "to": "Europe/Berlin"}}
    assert admin.get(f"/clinics/{body['id']}").get_json()["timezone"] == "Europe/Berlin"


def test_receipts_need_supplier_is_off_by_default_set_on_post_and_patch_and_audited(api, world, session):
    admin = api("admin")
    assert admin.get(f"/clinics/{world.clinic.id}").get_json()["receipts_need_supplier"] is False
    plain = admin.post("/clinics", {"code": "par", "name": "Paris", "timezone": "Europe/Paris"})
    assert plain.status_code == 201 and plain.get_json()["receipts_need_supplier"] is False
    strict = admin.post("/clinics", {"code": "mad", "name": "Madrid", "timezone": "Europe/Madrid",
                                     "receipts_need_supplier": True})
    assert strict.status_code == 201 and strict.get_json()["receipts_need_supplier"] is True
    opened = {e.object_id: e.details for e in _events(session, "clinic.created")}
    assert opened[str(plain.get_json()["id"])]["receipts_need_supplier"] is False
    assert opened[str(strict.get_json()["id"])]["receipts_need_supplier"] is True
    path = f"/clinics/{strict.get_json()['id']}"
    assert admin.patch(path, {"kit_warning_days": 40}).get_json()["receipts_need_supplier"] is True  # kept
    # Switching the rule off loosens it: saved with an admin's reason (tests/api/test_clinic_setup_api.py).
    changed = admin.patch(path, {"receipts_need_supplier": False, "reason": "The lab integration sends none yet"})
    assert changed.status_code == 200 and changed.get_json()["receipts_need_supplier"] is False
    assert [e.details for e in _events(session, "clinic.settings_changed")] == [
        {"kit_warning_days": {"from": 30, "to": 40}},
        {"receipts_need_supplier": {"from": True, "to": False}, "loosened": {"receipts_need_supplier": "on to off"},
         "reason": "The lab integration sends none yet"}]
    assert admin.get(path).get_json()["receipts_need_supplier"] is False
    bad = admin.patch(path, {"receipts_need_supplier": "sometimes"})
    assert (bad.status_code, error_code(bad)) == (422, "validation_error")
    assert bad.get_json()["error"]["details"]["field"] == "receipts_need_supplier"
    assert api("manager").patch(f"/clinics/{world.clinic.id}", {"receipts_need_supplier": True}).status_code == 403
    document = api().get("/openapi.json").get_json()
    patch = document["paths"]["/api/v1/clinics/{clinic_id}"]["patch"]
    body = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    answer = patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "receipts_need_supplier" in document["components"]["schemas"][body]["properties"]
    assert "receipts_need_supplier" in document["components"]["schemas"][answer]["required"]


def test_a_clinic_needs_a_real_time_zone_a_free_code_and_an_admin(api, world):
    admin = api("admin")
    bad_zone = admin.patch(f"/clinics/{world.clinic.id}", {"timezone": "Mars/Olympus"})
    assert (bad_zone.status_code, error_code(bad_zone)) == (422, "validation_error")
    taken = admin.patch(f"/clinics/{world.clinic.id}", {"code": "NYC"})
    assert (taken.status_code, error_code(taken)) == (409, "duplicate_name")
    negative = admin.patch(f"/clinics/{world.clinic.id}", {"filler_hold_days": -1})
    assert negative.status_code == 422
    assert api("manager").patch(f"/clinics/{world.clinic.id}", {"name": "X"}).status_code == 403


def test_the_openapi_document_carries_the_administration(api, world):
    paths = api().get("/openapi.json").get_json()["paths"]
    for path in ("/users", "/users/{user_id}", "/users/{user_id}/password", "/auth/logout", "/products/{product_id}",
                 "/locations/{location_id}", "/clinics/{clinic_id}"):
        assert "/api/v1" + path in paths, path


def test_created_products_are_real_rows(api, world, session):
    api("manager").post("/products", LIQUID_TOXIN)
    session.expire_all()
    product = session.scalar(select(Product).where(Product.name == LIQUID_TOXIN["name"]))
    assert product is not None and product.strength_per_ml == 200 and product.is_single_dose


def test_a_clinic_sets_its_own_typical_dose_range_over_the_chain_default_and_removes_it(api, world, session):
    admin = api("admin")  # migration 0007 seeds the chain's defaults (forehead 10-30 U onabotulinumtoxinA)
    path = f"/clinics/{world.clinic.id}"
    before = {(r["area"], r["clinics_own"]) for r in admin.get(path).get_json()["dose_ranges"]}
    assert ("forehead", False) in before
    own = {"molecule": "onabotulinumtoxinA", "area": "forehead", "low": "8", "high": "20"}
    answer = admin.patch(path, {"dose_ranges": [own]})
    assert answer.status_code == 200, answer.get_json()
    (forehead,) = [r for r in answer.get_json()["dose_ranges"] if r["area"] == "forehead"]
    assert (forehead["low"], forehead["high"], forehead["clinics_own"]) == ("8", "20", True)
    other = api("admin").get(f"/clinics/{world.other_clinic.id}").get_json()["dose_ranges"]
    assert [(r["high"], r["clinics_own"]) for r in other if r["area"] == "forehead"] == [("30", False)]
    bad = admin.patch(path, {"dose_ranges": [own | {"low": "30"}]})
    assert (bad.status_code, error_code(bad)) == (422, "validation_error")
    nowhere = admin.patch(path, {"dose_ranges": [own | {"area": "elbow"}]})
    assert nowhere.status_code == 422
    removed = admin.patch(path, {"dose_ranges": [own | {"low": None, "high": None}]})
    (forehead,) = [r for r in removed.get_json()["dose_ranges"] if r["area"] == "forehead"]
    assert (forehead["high"], forehead["clinics_own"]) == ("30", False)
    assert [e.details["to"] for e in _events(session, "clinic.dose_range_changed")] == [{"low": "8", "high": "20"}, None]


def test_a_typical_range_names_a_catalog_molecule_as_spelt_there(api, world, session):
    """QA: "OnabotulinumtoxinA" (and "unobtainium") were saved, shown as this clinic's range, and never applied:
    the cart looks ranges up by the catalog's spelling."""
    admin = api("admin")
    path = f"/clinics/{world.clinic.id}"
    own = {"molecule": "onabotulinumtoxinA", "area": "glabella", "low": "1", "high": "10"}
    for spelling, says in (("OnabotulinumtoxinA", "The catalog spells this molecule 'onabotulinumtoxinA'"),
                           ("onabotulinumtoxin A", "The catalog spells this molecule 'onabotulinumtoxinA'"),
                           ("unobtainium", "No product in the catalog is 'unobtainium': choose one of ")):
        refused = admin.patch(path, {"dose_ranges": [own | {"molecule": spelling}]})
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), spelling
        error = refused.get_json()["error"]
        assert error["details"]["field"] == "molecule" and error["message"].startswith(says), error
    assert _events(session, "clinic.dose_range_changed") == []
    assert admin.patch(path, {"dose_ranges": [own]}).status_code == 200


def test_a_range_looser_than_the_chains_needs_a_reason_and_none_passes_the_label_maximum(api, world, session):
    admin = api("admin")  # the chain's glabella default for onabotulinumtoxinA is 10-25 U; the label's maximum 40 U
    path = f"/clinics/{world.clinic.id}"
    looser = {"molecule": "onabotulinumtoxinA", "area": "glabella", "low": "10", "high": "30"}
    refused = admin.patch(path, {"dose_ranges": [looser]})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert refused.get_json()["error"]["details"]["field"] == "reason"
    assert "looser than the chain's 10-25" in refused.get_json()["error"]["message"]
    reasoned = admin.patch(path, {"dose_ranges": [looser | {"reason": "Mostly male patients, stronger corrugators"}]})
    assert reasoned.status_code == 200, reasoned.get_json()
    (event,) = _events(session, "clinic.dose_range_changed")
    assert event.details["reason"] == "Mostly male patients, stronger corrugators"
    label_max = world.botox.session_max_units
    above = admin.patch(path, {"dose_ranges": [looser | {"high": str(label_max + 1), "reason": "why not"}]})
    assert (above.status_code, error_code(above)) == (422, "validation_error")
    assert above.get_json()["error"]["details"]["field"] == "high"
    assert "above the label's maximum" in above.get_json()["error"]["message"]
