"""A label limit made looser needs an admin's reason (DOMAIN.md: "a clinic may set stricter values, never looser
ones without an admin recording why"): PATCH /api/v1/products/<id> refuses a loosening without "reason" (422,
field reason), keeps the reason and what it loosened in each product's audit event, and needs none to tighten."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Product
from tests.api.conftest import error_code
from tests.factories import make_product

ABO = "abobotulinumtoxinA"
ONA = "onabotulinumtoxinA"
WHY = "say why (e.g. the new label, a clinical protocol)."
BOTOX_AREAS = ["glabella", "forehead", "crows_feet_left", "crows_feet_right"]


def _limits(session, product: Product) -> tuple:
    session.expire_all()
    fresh = session.get(Product, product.id)
    return (fresh.session_max_units, fresh.session_max_areas, fresh.cumulative_max_units,
            fresh.cumulative_window_days, fresh.retreat_interval_days)


def _last_change(session, product: Product) -> AuditEvent:
    return session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "product", AuditEvent.object_id == str(product.id),
        AuditEvent.action == "product.changed").order_by(AuditEvent.id.desc())).first()


def test_qa_repro_raising_botox_to_500_u_without_a_reason_is_refused_and_changes_nothing(api, world, session):
    botox = world.botox
    before = _limits(session, botox)
    refused = api("admin").patch(f"/products/{botox.id}", {"session_max_units": "500"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    error = refused.get_json()["error"]
    assert error["message"] == ("Raising the session maximum of Botox Cosmetic 100 U (64 U to 500 U) loosens a safety "
                                f"limit: {WHY}")
    assert error["details"]["field"] == "reason"
    assert error["details"]["loosened"] == [{"product_id": botox.id, "name": "Botox Cosmetic 100 U",
                                             "field": "session_max_units", "from": "64", "to": "500"}]
    assert _limits(session, botox) == before
    assert _last_change(session, botox) is None


def test_with_a_reason_the_loosening_is_saved_and_the_audit_event_says_why(api, world, session):
    botox = world.botox
    saved = api("admin").patch(f"/products/{botox.id}", {"session_max_units": "500",
                                                         "reason": "  New label, 2026 revision  "})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["session_max_units"] == "500"
    event = _last_change(session, botox)
    assert event.details["session_max_units"]["to"] == "500"
    assert event.details["reason"] == "New label, 2026 revision"
    assert event.details["loosened"] == {"session_max_units": "64 U to 500 U"}
    assert event.actor_id == world.users["admin"].id


@pytest.mark.parametrize(("product", "change", "field", "message"), [
    ("botox", {"cumulative_max_units": "800"}, "cumulative_max_units",
     "Raising the cumulative maximum of Botox Cosmetic 100 U (400 U to 800 U)"),
    ("botox", {"cumulative_max_units": None, "cumulative_window_days": None}, "cumulative_max_units",
     "Removing the cumulative maximum of Botox Cosmetic 100 U (400 U to none); removing the cumulative window of "
     "Botox Cosmetic 100 U (90 days to none) loosen safety limits"),
    ("botox", {"cumulative_window_days": 30}, "cumulative_window_days",
     "Shortening the cumulative window of Botox Cosmetic 100 U (90 days to 30 days)"),
    ("botox", {"session_max_units": None, "session_max_areas": None}, "session_max_units",
     "Removing the session maximum of Botox Cosmetic 100 U (64 U to none)"),
    ("botox", {"session_max_areas": ["glabella", "forehead"]}, "session_max_areas",
     "Narrowing the areas the session maximum counts of Botox Cosmetic 100 U (Glabella (frown lines), Forehead, "
     "Crow's feet, left, Crow's feet, right to Glabella (frown lines), Forehead: Crow's feet, left, Crow's feet, "
     "right no longer counted)"),
    ("daxxify", {"retreat_interval_days": 14}, "retreat_interval_days",
     "Shortening the re-treatment interval of Daxxify 100 U (90 days to 14 days)"),
    ("daxxify", {"retreat_interval_days": None}, "retreat_interval_days",
     "Removing the re-treatment interval of Daxxify 100 U (90 days to none)"),
])
def test_every_kind_of_loosening_needs_a_reason(api, world, session, product, change, field, message):
    target = world.products[product]
    before = _limits(session, target)
    admin = api("admin")
    refused = admin.patch(f"/products/{target.id}", change)
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    body = refused.get_json()["error"]
    assert body["message"].startswith(message), body["message"]
    assert body["message"].endswith(WHY)
    assert body["details"]["field"] == "reason"
    assert field in {item["field"] for item in body["details"]["loosened"]}
    assert _limits(session, target) == before
    saved = admin.patch(f"/products/{target.id}", change | {"reason": "Clinic protocol CP-12, signed off by the lead"})
    assert saved.status_code == 200, saved.get_json()
    event = _last_change(session, target)
    assert event.details["reason"] == "Clinic protocol CP-12, signed off by the lead"
    assert field in event.details["loosened"]


@pytest.mark.parametrize(("product", "change"), [
    ("botox", {"session_max_units": "50"}),
    ("botox", {"session_max_areas": [*BOTOX_AREAS, "bunny_lines"]}),  # one more area counted
    ("botox", {"session_max_areas": []}),  # every area counted
    ("botox", {"cumulative_max_units": "300", "cumulative_window_days": 180}),
    ("daxxify", {"retreat_interval_days": 120}),
    ("dysport", {"retreat_interval_days": 90}),  # a limit where there was none
    ("dysport", {"session_max_units": "100", "session_max_areas": ["glabella"]}),
])
def test_tightening_needs_no_reason(api, world, session, product, change):
    target = world.products[product]
    saved = api("admin").patch(f"/products/{target.id}", change)
    assert saved.status_code == 200, saved.get_json()
    event = _last_change(session, target)
    assert event is not None and "loosened" not in event.details and "reason" not in event.details


def test_a_reason_given_with_a_tightening_is_kept(api, world, session):
    saved = api("admin").patch(f"/products/{world.botox.id}", {"session_max_units": "50", "reason": "New label"})
    assert saved.status_code == 200, saved.get_json()
    event = _last_change(session, world.botox)
    assert event.details["reason"] == "New label" and "loosened" not in event.details


def test_a_loosening_on_the_molecule_names_every_product_it_reaches_and_audits_each(api, world, session):
    botox_50 = make_product(session, "Botox Cosmetic 50 U")  # the label's limits, as Botox 100 U
    admin = api("admin")
    refused = admin.patch(f"/products/{world.botox.id}", {"session_max_units": "500"})
    assert refused.status_code == 422
    body = refused.get_json()["error"]
    assert body["message"] == ("Raising the session maximum of Botox Cosmetic 100 U and Botox Cosmetic 50 U (64 U to "
                               f"500 U; same molecule, {ONA}) loosens a safety limit: {WHY}")
    assert sorted(item["product_id"] for item in body["details"]["loosened"]) == sorted([world.botox.id,
                                                                                        botox_50.id])
    assert _limits(session, botox_50)[0] == Decimal(64)

    saved = admin.patch(f"/products/{world.botox.id}", {"session_max_units": "500", "reason": "New label"})
    assert saved.status_code == 200 and saved.get_json()["also_set_on"] == [{"id": botox_50.id,
                                                                             "name": "Botox Cosmetic 50 U"}]
    for product in (world.botox, botox_50):
        event = _last_change(session, product)
        assert (event.details["reason"], event.details["loosened"]) == ("New label",
                                                                        {"session_max_units": "64 U to 500 U"})


def test_a_value_that_tightens_one_product_but_loosens_another_of_the_molecule_needs_a_reason(api, world, session):
    """Dysport has no interval, Azzalure 120 days (a database from before the rule): 90 days on Dysport is set on
    Azzalure too, which it loosens."""
    azzalure = make_product(session, "Azzalure 125 s.U", retreat_interval_days=120)
    dysport = world.products["dysport"]
    refused = api("admin").patch(f"/products/{dysport.id}", {"retreat_interval_days": 90})
    assert refused.status_code == 422
    body = refused.get_json()["error"]
    assert body["message"] == ("Shortening the re-treatment interval of Azzalure 125 s.U (120 days to 90 days; same "
                               f"molecule, {ABO}) loosens a safety limit: {WHY}")
    assert [item["product_id"] for item in body["details"]["loosened"]] == [azzalure.id]
    assert _limits(session, azzalure)[4] == 120 and _limits(session, dysport)[4] is None


def test_a_blank_or_overlong_reason_is_no_reason(api, world, session):
    admin = api("admin")
    blank = admin.patch(f"/products/{world.botox.id}", {"session_max_units": "500", "reason": "   "})
    assert (blank.status_code, blank.get_json()["error"]["details"]["field"]) == (422, "reason")
    long = admin.patch(f"/products/{world.botox.id}", {"session_max_units": "500", "reason": "x" * 301})
    assert (long.status_code, error_code(long)) == (422, "validation_error")
    assert _limits(session, world.botox)[0] == Decimal(64)


def test_the_openapi_document_describes_the_reason_on_the_patch(api, world):
    spec = api().get("/openapi.json").get_json()
    body = spec["paths"]["/api/v1/products/{product_id}"]["patch"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "loosens a label limit" in spec["components"]["schemas"][ref]["properties"]["reason"]["description"]


@pytest.mark.parametrize(("before", "after", "loosened"), [
    ({"session_max_units": Decimal(64)}, {"session_max_units": Decimal(500)}, ["session_max_units"]),
    ({"session_max_units": Decimal(64)}, {"session_max_units": Decimal(50)}, []),
    ({"session_max_units": None}, {"session_max_units": Decimal(50)}, []),
    ({"session_max_units": Decimal(64), "session_max_areas": None},
     {"session_max_units": Decimal(64), "session_max_areas": "glabella"}, ["session_max_areas"]),
    ({"session_max_units": Decimal(64), "session_max_areas": "glabella"},
     {"session_max_units": Decimal(64), "session_max_areas": None}, []),
    ({"session_max_units": Decimal(64), "session_max_areas": "glabella,forehead"},
     {"session_max_units": Decimal(64), "session_max_areas": "glabella,lip"}, ["session_max_areas"]),
    ({"session_max_units": None, "session_max_areas": None},
     {"session_max_units": Decimal(40), "session_max_areas": "glabella"}, []),
    ({"cumulative_max_units": Decimal(400), "cumulative_window_days": 90},
     {"cumulative_max_units": Decimal(300), "cumulative_window_days": 30}, ["cumulative_window_days"]),
    ({"retreat_interval_days": 90}, {"retreat_interval_days": None}, ["retreat_interval_days"]),
    ({"retreat_interval_days": 90}, {"retreat_interval_days": 120}, []),
])
def test_what_loosens_a_limit(before, after, loosened):
    from inventory.admin.service import loosened_limits

    assert loosened_limits(before, after) == loosened
