"""The label's dose limits through the API: set on a product, they are its molecule's (DOMAIN.md "Dose and
interval checks"), the answer says which other products they were set on, and the cart checks every brand of
the molecule against them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Product, utcnow
from tests.api.conftest import error_code
from tests.factories import close_treatment, draw, make_product, patient, reconstitute, start_treatment

FAR = dt.date(2099, 12, 31)
ABO = "abobotulinumtoxinA"
ALL_LIMITS = {"session_max_units": "50", "session_max_areas": ["forehead", "glabella"],
              "cumulative_max_units": "300", "cumulative_window_days": 90, "retreat_interval_days": 120}


@pytest.fixture
def azzalure(world, session) -> Product:
    world.products["azzalure"] = make_product(session, "Azzalure 125 s.U")
    return world.products["azzalure"]


def test_qa_repro_an_interval_set_on_dysport_holds_for_an_azzalure_draw(api, world, session, azzalure):
    """Dysport 100 days ago; the admin sets 120 days on Dysport; an Azzalure draw now asks for a confirmation."""
    past = utcnow() - dt.timedelta(days=100)
    someone = patient(world, "MRN-ABO")
    earlier = start_treatment(world, someone, at=past)
    dysport = reconstitute(world, world.container("dysport", lot="DYS100", expiry=FAR, now=past), at=past)
    draw(world, earlier, dysport, "50", at=past)
    close_treatment(world, earlier, at=past)
    session.flush()

    answer = api("admin").patch(f"/products/{world.products['dysport'].id}", {"retreat_interval_days": 120})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["retreat_interval_days"] == 120
    assert body["also_set_on"] == [{"id": azzalure.id, "name": "Azzalure 125 s.U"}]
    assert body["note"] == f"Dose limits also set on Azzalure 125 s.U: same molecule ({ABO})."

    nurse = api("nurse")
    vial = world.container("azzalure", lot="AZZ1", expiry=FAR)
    assert nurse.post(f"/containers/{vial.label_code}/reconstitute", {"diluent_ml": "0.63"}).status_code == 200
    treatment = nurse.post("/treatments", {"patient_id": someone.id, "location_id": world.location("Room 1").id})
    assert treatment.status_code == 201, treatment.get_json()
    asked = nurse.post(f"/treatments/{treatment.get_json()['id']}/draws",
                       {"container": vial.label_code, "quantity": "10", "unit": "U", "area": "glabella"})
    assert (asked.status_code, error_code(asked)) == (409, "confirmation_required")
    assert [w["code"] for w in asked.get_json()["error"]["details"]["warnings"]] == ["retreatment_too_soon"]


def test_an_admin_sets_all_five_limits_and_each_product_of_the_molecule_is_audited(api, world, session, azzalure):
    answer = api("admin").patch(f"/products/{azzalure.id}", ALL_LIMITS)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["session_max_units"], body["session_max_areas"]) == ("50", ["glabella", "forehead"])
    assert (body["cumulative_max_units"], body["cumulative_window_days"]) == ("300", 90)
    assert body["retreat_interval_days"] == 120
    assert [p["name"] for p in body["also_set_on"]] == ["Dysport 300 U"]
    session.expire_all()
    dysport = session.get(Product, world.products["dysport"].id)
    assert (dysport.session_max_units, dysport.session_max_areas, dysport.cumulative_max_units,
            dysport.cumulative_window_days, dysport.retreat_interval_days) == (50, "glabella,forehead", 300, 90, 120)
    audited = session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "product.changed")).all()
    assert sorted(audited) == sorted([str(azzalure.id), str(dysport.id)])


def test_a_new_product_takes_its_molecules_limits_and_a_different_value_is_a_conflict(api, world):
    admin = api("admin")
    spec = {"name": "Botox Cosmetic 200 U", "kind": "neuromodulator", "form": "powder", "base_unit": "U",
            "units_per_container": "200", "beyond_use_hours": 24, "molecule": "onabotulinumtoxinA"}
    conflict = admin.post("/products", spec | {"cumulative_max_units": "500", "cumulative_window_days": 90})
    assert (conflict.status_code, error_code(conflict)) == (409, "molecule_limits_conflict")
    assert "has 400 U (as on Botox Cosmetic 100 U)" in conflict.get_json()["error"]["message"]
    created = admin.post("/products", spec)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["session_max_units"], body["cumulative_max_units"], body["cumulative_window_days"]) == \
        ("64", "400", 90)
    assert body["session_max_areas"] == ["glabella", "forehead", "crows_feet_left", "crows_feet_right"]
    assert body["note"] == "Dose limits taken from its molecule (onabotulinumtoxinA), as on Botox Cosmetic 100 U."


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"session_max_areas": ["glabella", "elbow"]}, 422, "validation_error"),
    ({"cumulative_max_units": "300", "cumulative_window_days": None}, 422, "validation_error"),
    ({"cumulative_window_days": 0}, 422, "validation_error"),
    ({"session_max_units": "0"}, 422, "validation_error"),
    ({"session_max_areas": "glabella"}, 422, "validation_error"),  # a list of areas, not a string
])
def test_a_limit_that_is_not_one_is_refused(api, world, change, status, code):
    answer = api("admin").patch(f"/products/{world.botox.id}", change)
    assert (answer.status_code, error_code(answer)) == (status, code), answer.get_json()


def test_a_manager_may_restate_but_not_set_the_new_limits(api, world):
    manager = api("manager")
    botox = world.botox
    for change in ({"cumulative_max_units": "300"}, {"cumulative_window_days": 30}, {"session_max_areas": []}):
        refused = manager.patch(f"/products/{botox.id}", change)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), change
    restated = manager.patch(f"/products/{botox.id}", {
        "storage": "2-8 °C", "session_max_areas": ["crows_feet_right", "glabella", "forehead", "crows_feet_left"],
        "cumulative_max_units": "400", "cumulative_window_days": 90})
    assert restated.status_code == 200 and restated.get_json()["also_set_on"] == []


def test_the_catalog_lists_every_limit(api, world):
    listed = {p["name"]: p for p in api("nurse").get("/products").get_json()["products"]}
    botox = listed["Botox Cosmetic 100 U"]
    assert (botox["session_max_units"], botox["cumulative_max_units"], botox["cumulative_window_days"]) == \
        ("64", "400", 90)
    assert botox["session_max_areas"] == ["glabella", "forehead", "crows_feet_left", "crows_feet_right"]
    assert botox["retreat_interval_days"] is None
