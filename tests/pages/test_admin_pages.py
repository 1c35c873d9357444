"""Administration pages: users, sessions that end on the server, passwords, catalog, locations, clinics."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent, Clinic, Location, Product, User
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token


def _post(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, form_page or path)})


def _copy_of(client, app):
    """A second browser holding a copy of ``client``'s session cookie (a stolen or shared cookie)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value, domain=cookie.domain or "localhost")
    return thief


def _signed_in(response) -> bool:
    return response.status_code == 200


# --- sessions end on the server ---------------------------------------------------------------------


def test_sign_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(browser_client, app, world):
    nurse = browser_client("nurse")
    copy = _copy_of(nurse, app)
    assert _signed_in(copy.get("/stock"))
    assert _post(nurse, "/logout", {}, "/stock").status_code == 302
    answer = copy.get("/stock")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_deactivating_a_user_signs_out_their_open_page_session_at_its_next_request(browser_client, world, session):
    nurse = browser_client("nurse")
    assert _signed_in(nurse.get("/cart"))
    admin = browser_client("admin")
    user_id = world.users["nurse"].id
    answer = _post(admin, f"/users/{user_id}/active", {"active": "0"}, f"/users/{user_id}")
    assert answer.status_code == 302
    assert "deactivated" in admin.get(answer.headers["Location"]).get_data(as_text=True)
    gone = nurse.get("/cart")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    session.expire_all()
    assert not session.get(User, user_id).is_active


def test_the_last_admin_cannot_deactivate_themselves_on_the_page(browser_client, world):
    admin = browser_client("admin")
    user_id = world.users["admin"].id
    answer = _post(admin, f"/users/{user_id}/active", {"active": "0"}, f"/users/{user_id}")
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert 'data-code="last_admin"' in html and "last active admin" in html
    assert _signed_in(admin.get("/users"))


def test_after_an_admin_reset_the_user_must_choose_a_new_password_before_any_page(browser_client, app, world):
    nurse = browser_client("nurse")
    admin = browser_client("admin")
    user_id = world.users["nurse"].id
    assert _post(admin, f"/users/{user_id}/password", {"password": "temporary-pass-1"}, f"/users/{user_id}") \
        .status_code == 302
    assert nurse.get("/cart").status_code == 302  # signed out by the reset
    fresh = app.test_client()
    signin = _post(fresh, "/login", {"username": "nurse", "password": "temporary-pass-1"})
    assert signin.headers["Location"].endswith("/account/password")
    assert fresh.get("/cart").headers["Location"].endswith("/account/password?next=/cart")
    changed = _post(fresh, "/account/password", {"current_password": "temporary-pass-1",
                                                 "password": "my-own-secret-99", "confirm": "my-own-secret-99"})
    assert changed.status_code == 302
    assert _signed_in(fresh.get("/cart"))  # this session goes on


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(browser_client, app, world):
    here, elsewhere = browser_client("manager"), browser_client("manager")
    wrong = _post(here, "/account/password", {"current_password": "not-it-at-all", "password": "another-secret-1",
                                              "confirm": "another-secret-1"})
    assert wrong.status_code == 422 and "current password is wrong" in wrong.get_data(as_text=True)
    differ = _post(here, "/account/password", {"current_password": PASSWORD, "password": "another-secret-1",
                                               "confirm": "another-secret-2"})
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    ok = _post(here, "/account/password", {"current_password": PASSWORD, "password": "another-secret-1",
                                           "confirm": "another-secret-1"})
    assert ok.status_code == 302
    assert _signed_in(here.get("/stock"))
    assert elsewhere.get("/stock").status_code == 302


# --- users ------------------------------------------------------------------------------------------


def test_only_admins_open_the_users_and_clinics_pages(browser_client, world):
    for who in ("nurse", "manager", "safety"):
        client = browser_client(who)
        assert client.get("/users").status_code == 403
        assert client.get("/clinics").status_code == 403
    assert browser_client("admin").get("/users").status_code == 200


def test_creating_a_user_on_the_page_and_a_refusal_keeps_what_was_typed(browser_client, world, session):
    admin = browser_client("admin")
    created = _post(admin, "/users", {"username": "new-nurse", "display_name": "Nina New", "role": "nurse",
                                      "clinic_ids": [str(world.clinic.id)], "password": "long-enough-pw"})
    assert created.status_code == 302
    page = admin.get("/users").get_data(as_text=True)
    assert "new-nurse" in page and "Nina New" in page
    taken = _post(admin, "/users", {"username": "new-nurse", "display_name": "Someone Else", "role": "manager",
                                    "password": "long-enough-pw"})
    assert taken.status_code == 409
    html = taken.get_data(as_text=True)
    assert 'data-code="username_taken"' in html
    assert 'value="new-nurse"' in html and 'value="Someone Else"' in html
    assert '<option selected value="manager">' in html
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "new-nurse"))
    assert [c.code for c in user.clinics] == ["LON"] and not user.is_chain_level


def test_a_user_an_admin_made_chooses_their_own_password_before_any_page(browser_client, app, world):
    """The admin typed the first password and knows it: it opens the password page only, as after a reset."""
    admin = browser_client("admin")
    assert _post(admin, "/users", {"username": "new-nurse", "display_name": "", "role": "nurse",
                                   "clinic_ids": [str(world.clinic.id)], "password": "admin-chose-it-1"}).status_code == 302
    fresh = app.test_client()
    signin = _post(fresh, "/login", {"username": "new-nurse", "password": "admin-chose-it-1"})
    assert signin.headers["Location"].endswith("/account/password")
    held = fresh.get("/cart")
    assert held.headers["Location"].endswith("/account/password?next=/cart")  # on to the cart afterwards
    page = fresh.get(held.headers["Location"]).get_data(as_text=True)
    assert page.count("An admin set your first password") == 1 and "An admin set your password" not in page
    changed = _post(fresh, "/account/password", {"current_password": "admin-chose-it-1",
                                                 "password": "my-own-secret-99", "confirm": "my-own-secret-99"})
    assert changed.status_code == 302
    assert _signed_in(fresh.get("/cart"))


def test_editing_role_and_clinics_on_the_page_is_audited(browser_client, world, session):
    admin = browser_client("admin")
    user_id = world.users["nurse"].id
    answer = _post(admin, f"/users/{user_id}", {"role": "safety_lead", "display_name": "",
                                                "clinic_ids": [str(world.clinic.id), str(world.other_clinic.id)]})
    assert answer.status_code == 302
    html = admin.get(f"/users/{user_id}").get_data(as_text=True)
    assert "Role: Nurse / injector → Safety lead; Clinics: LON → LON, NYC" in html  # the audit trail, in words
    for clinic in (world.clinic, world.other_clinic):  # the clinic boxes: one per choice, both ticked now
        assert (f'id="edit-clinic-{clinic.id}" name="clinic_ids" value="{clinic.id}" checked> '
                f"{clinic.code} · {clinic.name}</label>") in html
    session.expire_all()
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == str(user_id))) == "user.changed"


# --- catalog ----------------------------------------------------------------------------------------


def test_a_manager_adds_a_product_on_the_catalog_page_and_a_bad_gtin_keeps_the_form(browser_client, world, session):
    manager = browser_client("manager")
    assert "Add a product" in manager.get("/catalog").get_data(as_text=True)
    form = {"name": "Restylane Kysse 1 mL", "brand": "Restylane", "kind": "filler", "form": "gel", "base_unit": "mL",
            "volume_ml": "1", "gprime_category": "medium", "gtins": "5901234123458", "is_active": "y"}
    refused = _post(manager, "/catalog/new", form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'data-code="bad_check_digit"' in html and 'value="Restylane Kysse 1 mL"' in html
    added = _post(manager, "/catalog/new", form | {"gtins": "5901234123457"})
    assert added.status_code == 302
    session.expire_all()
    product = session.scalar(select(Product).where(Product.name == "Restylane Kysse 1 mL"))
    assert product.quantity_per_container == 1 and [g.gtin for g in product.gtins] == ["05901234123457"]
    assert "Edit Restylane Kysse 1 mL" in manager.get("/catalog").get_data(as_text=True)


def test_the_manager_sees_the_sharing_policy_read_only_and_cannot_change_it(browser_client, world, session):
    botox = world.botox
    manager = browser_client("manager")
    html = manager.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    assert "An admin sets these." in html and 'name="is_multi_patient"' not in html
    data = {"name": botox.name, "brand": botox.brand, "kind": "neuromodulator", "form": "powder", "base_unit": "U",
            "quantity_per_container": "100", "beyond_use_hours": "24", "gtins": botox.gtins[0].gtin,
            "is_active": "y", "is_multi_patient": "y"}
    assert _post(manager, f"/catalog/{botox.id}/edit", data).status_code == 302
    session.expire_all()
    assert not session.get(Product, botox.id).is_multi_patient  # the field a manager may not send was ignored
    admin = browser_client("admin")
    assert 'name="is_multi_patient"' in admin.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    # The admin's form posts the dose limits as the page shows them (left out, they would be cleared: a loosening).
    shown_limits = {"session_max_units": "64", "session_max_areas": botox.session_max_areas.split(","),
                    "cumulative_max_units": "400", "cumulative_window_days": "90"}
    # Sharing vials between patients loosens the label's one patient, one session: saved only with a reason.
    assert _post(admin, f"/catalog/{botox.id}/edit", data | shown_limits).status_code == 422
    assert _post(admin, f"/catalog/{botox.id}/edit",
                 data | shown_limits | {"reason": "Clinic protocol CP-3"}).status_code == 302
    session.expire_all()
    assert session.get(Product, botox.id).is_multi_patient


def test_nurses_read_the_catalog_but_do_not_manage_it(browser_client, world):
    nurse = browser_client("nurse")
    assert "Add a product" not in nurse.get("/catalog").get_data(as_text=True)
    assert nurse.get("/catalog/new").status_code == 403
    assert nurse.get("/locations").status_code == 403


# --- locations --------------------------------------------------------------------------------------


def test_locations_page_adds_one_and_refuses_retiring_one_with_stock(browser_client, world, session):
    manager = browser_client("manager")
    added = _post(manager, "/locations", {"clinic_id": str(world.clinic.id), "name": "Fridge 2", "kind": "fridge",
                                          "temperature_sensitive": "y"})
    assert added.status_code == 302
    fridge = world.location()
    world.container("botox", lot="HELD1", location=fridge)
    session.flush()
    refused = _post(manager, f"/locations/{fridge.id}", {"action": "retire"}, "/locations")
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert 'data-code="location_holds_stock"' in html and "still holds 1 container" in html
    session.expire_all()
    assert session.get(Location, fridge.id).is_active
    new = session.scalar(select(Location).where(Location.name == "Fridge 2"))
    assert new.temperature_sensitive


# --- clinics ----------------------------------------------------------------------------------------


def test_clinic_settings_page_saves_and_refuses_an_unknown_time_zone_keeping_the_form(browser_client, world, session):
    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    data = {"code": "LON", "name": "London", "timezone": "Europe/Londres", "filler_hold_days": "3",
            "kit_warning_days": "21"}
    refused = _post(admin, path, data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "not a time zone" in html and 'value="Europe/Londres"' in html and 'value="21"' in html
    assert _post(admin, path, data | {"timezone": "Europe/London", "reason": "Touch-ups"}).status_code == 302
    session.expire_all()
    clinic = session.get(Clinic, world.clinic.id)
    assert (clinic.filler_hold_days, clinic.kit_warning_days, clinic.name) == (3, 21, "London")
    assert "Settings changed" in admin.get(path).get_data(as_text=True)


def test_clinic_settings_page_shows_and_saves_whether_receipts_need_a_supplier(browser_client, world, session):
    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    html = admin.get(path).get_data(as_text=True)
    box = 'id="clinic-receipts-need-supplier" name="receipts_need_supplier" type="checkbox" value="y"'
    assert "<input " + box + "> Every receipt names its supplier</label>" in html  # off, as every clinic starts
    assert "a box received without naming its supplier is refused" in html
    data = {"code": "LON", "name": "London", "timezone": "Europe/London", "filler_hold_days": "0",
            "kit_warning_days": "30"}
    assert _post(admin, path, data | {"receipts_need_supplier": "y"}).status_code == 302
    session.expire_all()
    assert session.get(Clinic, world.clinic.id).receipts_need_supplier
    html = admin.get(path).get_data(as_text=True)
    assert "<input checked " + box + ">" in html
    assert "Every receipt names its supplier: no → yes" in html  # the audit trail
    # The box left unticked switches it off, which loosens the rule: saved with the reason.
    assert _post(admin, path, data | {"reason": "The lab integration sends none yet"}).status_code == 302
    session.expire_all()
    assert not session.get(Clinic, world.clinic.id).receipts_need_supplier


def test_the_api_logout_ends_a_page_session_too(browser_client, app, world):
    nurse = browser_client("nurse")
    copy = _copy_of(nurse, app)
    answer = nurse.post("/api/v1/auth/logout")
    assert answer.status_code == 204
    for client in (nurse, copy):
        assert client.get("/stock").status_code == 302


def test_clinic_settings_page_sets_a_typical_dose_range_and_keeps_a_refused_one(browser_client, world, session):
    from inventory.models import DoseRange

    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    refused = _post(admin, f"{path}/dose-ranges", {"molecule": "onabotulinumtoxinA", "area": "glabella",
                                                   "low": "25", "high": "10"}, path)
    assert refused.status_code == 422
    assert 'value="onabotulinumtoxinA"' in refused.get_data(as_text=True)
    assert _post(admin, f"{path}/dose-ranges", {"molecule": "onabotulinumtoxinA", "area": "glabella",
                                                "low": "10", "high": "25"}, path).status_code == 302
    html = admin.get(path).get_data(as_text=True)
    assert "this clinic" in html and "Typical dose range changed" in html
    session.expire_all()
    row = session.scalar(select(DoseRange).where(DoseRange.clinic_id == world.clinic.id))
    assert (row.area, row.low, row.high) == ("glabella", 10, 25)


def test_clinic_settings_page_refuses_a_misspelt_molecule_and_asks_why_for_a_looser_range(browser_client, world,
                                                                                           session):
    from inventory.models import DoseRange

    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    misspelt = _post(admin, f"{path}/dose-ranges", {"molecule": "Onabotulinumtoxin A", "area": "glabella",
                                                    "low": "5", "high": "10"}, path)
    assert misspelt.status_code == 422
    assert "The catalog spells this molecule &#39;onabotulinumtoxinA&#39;" in misspelt.get_data(as_text=True)
    looser = {"molecule": "onabotulinumtoxinA", "area": "glabella", "low": "10", "high": "30"}
    asked = _post(admin, f"{path}/dose-ranges", looser, path)
    assert asked.status_code == 422 and 'id="range-reason"' in asked.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(DoseRange).where(DoseRange.clinic_id == world.clinic.id)) is None
    saved = _post(admin, f"{path}/dose-ranges", looser | {"reason": "Stronger corrugators"}, path)
    assert saved.status_code == 302
    assert "Stronger corrugators" in admin.get(path).get_data(as_text=True)  # the audit trail shows why
