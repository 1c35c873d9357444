"""The foundation's API: auth, catalog, scans, receipts, containers, labels, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from inventory.models import ApiToken, Container, Lot, Movement, ProductGtin
from tests.api.conftest import error_code
from tests.factories import PASSWORD
from tests.statements import kinds, recorded

GS = "\x1d"


def gs1(gtin: str, expiry: str = "281231", lot: str = "AB1234", serial: str | None = None) -> str:
    code = f"]d201{gtin}17{expiry}10{lot}"
    return code + (f"{GS}21{serial}" if serial else "")


def test_sign_in_returns_a_token_that_opens_the_api(api, world):
    anonymous = api()
    response = anonymous.post("/auth/tokens", {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["role"] == "nurse" and body["token"].startswith("vlg_")
    assert dt.datetime.fromisoformat(body["expires_at"]) > dt.datetime.now(dt.UTC)
    anonymous.token = body["token"]
    assert anonymous.get("/clinics").status_code == 200


def test_wrong_password_is_unauthorized_without_saying_which_part_was_wrong(api, world):
    for username in ("nurse", "nobody"):
        response = api().post("/auth/tokens", {"username": username, "password": "wrong-password-1"})
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
        assert response.get_json()["error"]["message"] == "Wrong username or password."


def test_no_token_or_a_bad_token_is_unauthorized(api, world):
    assert error_code(api().get("/products")) == "unauthorized"
    client = api()
    client.token = "vlg_made-up"
    response = client.get("/products")
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_an_expired_token_is_refused(api, world, session):
    client = api("nurse")
    record = session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["nurse"].id))
    record.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.flush()
    response = client.get("/products")
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_a_nurse_sees_only_her_clinic_and_its_locations(api, world):
    nurse = api("nurse")
    clinics = nurse.get("/clinics").get_json()["clinics"]
    assert [c["code"] for c in clinics] == ["LON"]
    locations = nurse.get("/locations").get_json()["locations"]
    assert {loc["clinic_id"] for loc in locations} == {world.clinic.id}
    chain = api("manager").get("/clinics").get_json()["clinics"]
    assert {c["code"] for c in chain} == {"LON", "NYC"}


def test_products_list_kind_specific_facts(api, world):
    products = {p["name"]: p for p in api("nurse").get("/products").get_json()["products"]}
    botox = products["Botox Cosmetic 100 U"]
    assert botox["kind"] == "neuromodulator" and botox["base_unit"] == "U"
    assert botox["units_per_container"] == "100" and botox["beyond_use_hours"] == 24
    assert botox["gtins"] == [world.botox.gtins[0].gtin]
    volbella = products["Juvederm Volbella XC 0.55 mL"]
    assert volbella["units_per_container"] == "0.55" and volbella["gprime_category"] == "low"
    assert products["Hylenex recombinant 150 USP U/mL"]["base_unit"] == "USP U"


def test_receiving_a_scanned_box_creates_lot_containers_and_movements(api, world, session):
    gtin = world.botox.gtins[0].gtin
    response = api("manager").post(
        "/receipts", {"code": gs1(gtin, lot="C3709C3"), "containers": 3, "location_id": world.location().id}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["lot"]["number"] == "C3709C3" and body["lot"]["expiry"] == "2028-12-31"
    assert body["lot"]["expiry_raw"] == "281231"
    assert len(body["containers"]) == 3
    assert all(c["remaining"] == "100" and c["state"] == "sealed" for c in body["containers"])
    assert len({c["label_code"] for c in body["containers"]}) == 3
    ids = [c["id"] for c in body["containers"]]
    moved = session.scalar(select(func.sum(Movement.quantity)).where(Movement.container_id.in_(ids)))
    assert moved == Decimal(300)


def test_a_lot_that_swallowed_the_next_element_is_refused_until_confirmed(api, world, session):
    # The scanner dropped the GS after the lot: "AB12C" + serial "21998877" reads as one lot.
    body = {"code": gs1(world.botox.gtins[0].gtin, lot="AB12C21998877"), "containers": 1,
            "location_id": world.location().id}
    manager = api("manager")
    refused = manager.post("/receipts", body)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "separator_lost"
    assert error["details"] == {"lot_as_read": "AB12C21998877", "lot_if_separated": "AB12C"}
    assert "Nothing was saved" in error["message"]
    assert session.scalar(select(func.count(Lot.id))) == 0
    # The manager compared the lot with the box: it really is AB12C21998877.
    confirmed = manager.post("/receipts", body | {"confirm": ["separator_lost"]})
    assert confirmed.status_code == 201 and confirmed.get_json()["lot"]["number"] == "AB12C21998877"


def test_receiving_by_typed_gtin_lot_and_expiry(api, world):
    response = api("manager").post(
        "/receipts",
        {"gtin": world.filler.gtins[0].gtin, "lot": "10D9T", "expiry": "2027-09-30", "containers": 2,
         "location_id": world.location("Cart").id},
    )
    assert response.status_code == 201
    assert response.get_json()["lot"]["number"] == "10D9T"  # taken literally, never parsed as AI 10


def test_a_nurse_may_not_receive(api, world):
    response = api("nurse").post(
        "/receipts", {"code": gs1(world.botox.gtins[0].gtin), "containers": 1, "location_id": world.location().id}
    )
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_receiving_into_another_clinics_location_is_not_found(api, world):
    response = api("clinic_manager").post(
        "/receipts",
        {"code": gs1(world.botox.gtins[0].gtin), "containers": 1,
         "location_id": world.location(clinic=world.other_clinic).id},
    )
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_receiving_refuses_a_conflicting_expiry_and_an_expired_lot(api, world, session):
    manager = api("manager")
    gtin = world.botox.gtins[0].gtin
    loc = world.location().id
    assert manager.post("/receipts", {"code": gs1(gtin, "281231", "LOT1"), "containers": 1, "location_id": loc}).status_code == 201
    conflict = manager.post("/receipts", {"code": gs1(gtin, "281130", "lot1 "), "containers": 1, "location_id": loc})
    assert conflict.status_code == 409 and error_code(conflict) == "lot_expiry_conflict"
    expired = manager.post("/receipts", {"code": gs1(gtin, "200131", "OLD1"), "containers": 1, "location_id": loc})
    assert expired.status_code == 409 and error_code(expired) == "lot_expired"
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 1  # nothing half-written


def test_the_same_idempotency_key_returns_the_first_receipt_again(api, world, session):
    manager = api("manager")
    body = {"code": gs1(world.botox.gtins[0].gtin), "containers": 2, "location_id": world.location().id}
    first = manager.post("/receipts", body, headers={"Idempotency-Key": "box-1"})
    again = manager.post("/receipts", body, headers={"Idempotency-Key": "box-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_data() == again.get_data()
    assert session.scalar(select(func.count(Container.id))) == 2
    different = manager.post("/receipts", body | {"containers": 3}, headers={"Idempotency-Key": "box-1"})
    assert different.status_code == 409 and error_code(different) == "idempotency_conflict"


def test_scan_of_a_box_names_product_lot_and_expiry(api, world):
    gtin = world.botox.gtins[0].gtin
    body = api("nurse").post("/scans", {"code": gs1(gtin, "270300", "C3709C3", "SN1")}).get_json()
    assert body["kind"] == "gs1" and body["gtin"] == gtin and body["lot"] == "C3709C3"
    assert body["expiry"] == "2027-03-31" and body["expiry_raw"] == "270300" and body["serial"] == "SN1"
    assert body["product"]["name"] == "Botox Cosmetic 100 U" and body["container"] is None


def test_scan_of_a_vialog_label_finds_the_container(api, world):
    container = world.container("botox")
    body = api("nurse").post("/scans", {"code": container.label_code.lower() + "\r\n"}).get_json()
    assert body["kind"] == "container"
    assert body["container"]["id"] == container.id and body["container"]["remaining"] == "100"


def test_a_scan_through_the_api_is_the_token_and_one_look_up(api, world, session):
    """A nurse's scan sends two statements: her token (with her clinics, whose time zone the scan uses) and the
    look-up, which brings every GTIN of the product for the answer; nothing is loaded afterwards."""
    container = world.container("botox")
    world.botox.gtins.append(ProductGtin(gtin="00361234000018"))
    session.flush()
    nurse = api("nurse")
    for code in (container.label_code, gs1(world.botox.gtins[0].gtin, "270300", container.lot.number, "SN9"),
                 world.botox.gtins[0].gtin):
        session.expire_all()  # nothing already in the identity map
        with recorded(session) as sent:
            response = nurse.post("/scans", {"code": code})
        assert response.status_code == 200, response.get_json()
        assert sorted(response.get_json()["product"]["gtins"]) == sorted(g.gtin for g in world.botox.gtins)
        statements = [k for k in kinds(sent) if not k.startswith(("SAVEPOINT", "RELEASE"))]
        assert len(statements) == 2 and statements[0] == "SELECT api_tokens", (code, statements)


def test_scan_errors_have_their_own_codes_and_change_nothing(api, world, session):
    container = world.container("botox")
    other = world.container("botox", lot="NY1", location=world.location(clinic=world.other_clinic))
    nurse = api("nurse")
    before = session.scalar(select(func.count(Movement.id)))
    cases = {
        "not a code at all": (422, "unreadable_code"),
        "00301234567891": (422, "bad_check_digit"),
        "00301234567896": (404, "unknown_product"),
        "VL00000000": (404, "unknown_container"),
        other.label_code: (404, "unknown_container"),  # another clinic's vial does not exist for her
    }
    for code, (status, expected) in cases.items():
        response = nurse.post("/scans", {"code": code})
        assert (response.status_code, error_code(response)) == (status, expected), code
    assert nurse.post("/scans", {"code": container.label_code}).status_code == 200
    assert session.scalar(select(func.count(Movement.id))) == before


def test_invalid_bodies_are_422_and_malformed_json_is_400(api, world):
    manager = api("manager")
    assert error_code(manager.post("/receipts", {"containers": 0, "location_id": 1})) == "validation_error"
    response = manager.post("/receipts", {"code": "x", "containers": "many", "location_id": 1})
    assert response.status_code == 422
    fields = [f["field"] for f in response.get_json()["error"]["details"]["fields"]]
    assert "containers" in fields
    broken = manager.post("/receipts", "{not json")
    assert broken.status_code == 400 and error_code(broken) == "malformed_json"


def test_every_validation_error_has_one_shape_whatever_refused_it(api, world):
    """An integration reads ``field`` and ``fields`` the same way whether the schema or a rule refused the value."""
    location = world.location()
    manager = api("manager")
    by_schema = manager.post("/receipts", {"code": "x", "containers": "many", "location_id": location.id})
    by_rule = manager.post("/receipts", {"gtin": "00301234567896", "lot": "AB 12", "expiry": "2030-01-31",
                                         "containers": 1, "location_id": location.id})
    by_depth = manager.post("/receipts", "[" * 40 + "]" * 40)
    for response in (by_schema, by_rule, by_depth):
        assert response.status_code == 422 and error_code(response) == "validation_error", response.get_json()
        details = response.get_json()["error"]["details"]
        assert details["fields"] and {"field", "problem"} <= set(details["fields"][0])
        assert details["field"] == details["fields"][0]["field"]
    assert by_schema.get_json()["error"]["details"]["field"] == "containers"
    assert by_rule.get_json()["error"]["details"]["fields"] == [
        {"field": "lot", "problem": by_rule.get_json()["error"]["message"]}]
    assert by_depth.get_json()["error"]["details"]["field"] == "body"


def test_a_json_body_sent_as_a_form_is_415_not_a_missing_field(api, world):
    """curl -d sends a form's content type: the client is told to send JSON, never "code: Field required"."""
    manager = api("manager")
    sent = manager.client.post("/api/v1/receipts", data='{"code": "x", "containers": 1, "location_id": 1}',
                               headers={"Authorization": f"Bearer {manager.token}"},
                               content_type="application/x-www-form-urlencoded")
    assert sent.status_code == 415 and error_code(sent) == "unsupported_media_type"
    assert "Content-Type: application/json" in sent.get_json()["error"]["message"]
    token = api().client.post("/api/v1/auth/tokens", data={"username": "manager", "password": "x"})
    assert token.status_code == 415


def test_container_by_id_or_label_and_its_labels(api, world):
    container = world.container("botox")
    nurse = api("nurse")
    by_id = nurse.get(f"/containers/{container.id}").get_json()
    by_label = nurse.get(f"/containers/{container.label_code}").get_json()
    assert by_id == by_label and by_id["base_unit"] == "U" and by_id["location_id"] == world.location().id
    svg = nurse.get(f"/containers/{container.id}/label.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert container.label_code in svg.get_data(as_text=True) and "C3709C3" in svg.get_data(as_text=True)
    png = nurse.get(f"/containers/{container.label_code}/label.png")
    assert png.status_code == 200 and png.get_data()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lots_are_found_by_number_regardless_of_case_and_spaces(api, world):
    world.receive("botox", lot="C3709C3")
    lots = api("nurse").get("/lots?number=%20c3709c3%20").get_json()["lots"]
    assert [lot["number"] for lot in lots] == ["C3709C3"]
    assert api("nurse").get(f"/lots?gtin={world.filler.gtins[0].gtin}").get_json()["lots"] == []


def test_unknown_paths_and_methods_answer_in_the_error_shape(api, world):
    assert error_code(api().get("/no-such-thing")) == "not_found"
    for path in ("/users/abc", "/containers/1.5/labels", "/no-such-thing"):  # no route answers: Vialog's words
        answer = api("admin").get(path)
        assert (answer.status_code, error_code(answer)) == (404, "not_found")
        assert answer.get_json()["error"]["message"] == (
            "Nothing in the Vialog API answers at this address: check the path, and that ids are whole numbers.")
    assert api("admin").get("/users/999999").get_json()["error"]["message"] == "No user with id 999999."
    response = api("nurse").client.delete("/api/v1/products")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_openapi_document_lists_the_contract_paths(api, world):
    document = api().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    for path in ("/api/v1/auth/tokens", "/api/v1/scans", "/api/v1/receipts", "/api/v1/containers/{container_ref}"):
        assert path in document["paths"], path
    receipt = document["paths"]["/api/v1/receipts"]["post"]
    schema_ref = receipt["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.rsplit("/", 1)[1] in document["components"]["schemas"]


def test_nul_characters_are_refused_before_any_view(api, world):
    response = api().post("/auth/tokens", {"username": "nurse\x00", "password": "x"})
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert error_code(api("nurse").get("/lots?number=A%00B")) == "validation_error"
