"""QA findings: what the label allows was loosened without an admin recording why (DOMAIN.md: "a clinic may set
stricter values, never looser ones without an admin recording why"), through the API:

1. a manager lengthened a product's beyond-use hours (PATCH {"beyond_use_hours": 1000} answered 200), and an admin
   could without a reason: lengthening (or clearing) is now an admin's, with a reason kept in the audit trail, as a
   looser dose limit is; shortening stays open to managers;
2. a manager took the single-dose mark off a hyaluronidase (PATCH {"single_dose": false}), after which one opened
   Hylenex vial served two patients: hyaluronidase is single-dose by nature, so nobody makes it shareable
   (422 always_single_patient), and a row from before reads as single-patient all the same; on any other product
   taking the mark off is an admin's, with a reason;
3. an admin lengthened a clinic's filler hold days without a reason: it now needs one, as other loosenings do.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.admin.service import latest_loosening
from inventory.models import AuditEvent, Clinic, Container, ContainerState, Product, ProductForm, ProductKind
from tests.api.conftest import error_code
from tests.api.test_reverse_after_discard_api import treatment_for
from tests.factories import make_product

FAR = dt.date(2099, 12, 31)  # requests run at the real clock: lots must outlive it
WHY = "say why (e.g. the new label, a clinical protocol)."


def _fresh(session, product: Product) -> Product:
    session.expire_all()
    return session.get(Product, product.id)


def _events(session, object_type: str, object_id: int, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id), AuditEvent.action == action)
        .order_by(AuditEvent.id)))


def _error(response) -> dict:
    return response.get_json()["error"]


# --- 1. beyond-use hours ------------------------------------------------------------------------------


def test_qa_repro_a_manager_may_not_lengthen_botox_beyond_use_hours(api, world, session):
    botox = world.botox
    refused = api("manager").patch(f"/products/{botox.id}", {"beyond_use_hours": 1000})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.get_json()
    error = _error(refused)
    assert error["message"] == ("Lengthening the beyond-use time of Botox Cosmetic 100 U (24 h to 1000 h) loosens a "
                                "safety limit: only an admin may, saying why. A manager may shorten it.")
    assert error["details"]["field"] == "beyond_use_hours"
    assert error["details"]["loosened"] == [{"product_id": botox.id, "name": "Botox Cosmetic 100 U",
                                             "field": "beyond_use_hours", "from": 24, "to": 1000}]
    # with a reason too: the reason is an admin's to give
    again = api("manager").patch(f"/products/{botox.id}", {"beyond_use_hours": 72, "reason": "busy day"})
    assert (again.status_code, error_code(again)) == (403, "forbidden"), again.get_json()
    assert _fresh(session, botox).beyond_use_hours == 24
    assert _events(session, "product", botox.id, "product.changed") == []


def test_an_admin_lengthening_beyond_use_hours_needs_a_reason_kept_in_the_audit_trail(api, world, session):
    botox = world.botox
    admin = api("admin")
    refused = admin.patch(f"/products/{botox.id}", {"beyond_use_hours": 1000})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    error = _error(refused)
    assert error["message"] == ("Lengthening the beyond-use time of Botox Cosmetic 100 U (24 h to 1000 h) loosens a "
                                f"safety limit: {WHY}")
    assert error["details"]["field"] == "reason"
    assert error["details"]["loosened"] == [{"product_id": botox.id, "name": "Botox Cosmetic 100 U",
                                             "field": "beyond_use_hours", "from": 24, "to": 1000}]
    assert _fresh(session, botox).beyond_use_hours == 24

    saved = admin.patch(f"/products/{botox.id}", {"beyond_use_hours": 48, "reason": "  Clinic protocol CP-7  "})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["beyond_use_hours"] == 48
    (event,) = _events(session, "product", botox.id, "product.changed")
    assert event.details == {"beyond_use_hours": {"from": 24, "to": 48}, "reason": "Clinic protocol CP-7",
                             "loosened": {"beyond_use_hours": "24 h to 48 h"}}
    assert event.actor_id == world.users["admin"].id
    latest = latest_loosening(session, botox.id)
    assert latest is not None and (latest.what, latest.reason) == ("beyond-use time 24 h to 48 h",
                                                                   "Clinic protocol CP-7")


def test_a_loosened_beyond_use_time_and_dose_limit_are_said_together(api, world, session):
    refused = api("admin").patch(f"/products/{world.botox.id}", {"beyond_use_hours": 48, "session_max_units": "100"})
    assert refused.status_code == 422
    error = _error(refused)
    assert error["message"] == ("Raising the session maximum of Botox Cosmetic 100 U (64 U to 100 U); lengthening the "
                                f"beyond-use time of Botox Cosmetic 100 U (24 h to 48 h) loosen safety limits: {WHY}")
    assert [item["field"] for item in error["details"]["loosened"]] == ["session_max_units", "beyond_use_hours"]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_shortening_or_restating_beyond_use_hours_needs_no_reason(api, world, session, role):
    botox = world.botox
    client = api(role)
    assert client.patch(f"/products/{botox.id}", {"beyond_use_hours": 24}).status_code == 200  # as it is
    saved = client.patch(f"/products/{botox.id}", {"beyond_use_hours": 12})
    assert saved.status_code == 200, saved.get_json()
    assert _fresh(session, botox).beyond_use_hours == 12
    (event,) = _events(session, "product", botox.id, "product.changed")
    assert event.details == {"beyond_use_hours": {"from": 24, "to": 12}}


def test_a_manager_may_set_an_in_use_time_where_there_was_none_but_never_clear_one(api, world, session):
    """Hylenex (a liquid) has no in-use time on file: setting one is stricter. Vitrase's 6 hours from first
    puncture, cleared, would let an opened vial be drawn from without end: a loosening."""
    hylenex = world.products["hylenex"]
    assert hylenex.beyond_use_hours is None
    manager = api("manager")
    assert manager.patch(f"/products/{hylenex.id}", {"beyond_use_hours": 6}).status_code == 200
    assert _fresh(session, hylenex).beyond_use_hours == 6

    vitrase = make_product(session, "Vitrase 200 USP U/mL 2 mL")
    refused = manager.patch(f"/products/{vitrase.id}", {"beyond_use_hours": None})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.get_json()
    assert _error(refused)["message"].startswith(
        "Removing the beyond-use time of Vitrase 200 USP U/mL 2 mL (6 h to none) loosens a safety limit")
    admin = api("admin")
    refused = admin.patch(f"/products/{vitrase.id}", {"beyond_use_hours": None})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert _error(refused)["details"]["loosened"][0] | {"product_id": 0} == {
        "product_id": 0, "name": "Vitrase 200 USP U/mL 2 mL", "field": "beyond_use_hours", "from": 6, "to": None}
    assert _fresh(session, vitrase).beyond_use_hours == 6


@pytest.mark.parametrize("role", ["manager", "admin"])
@pytest.mark.parametrize("hours", [0, -5])
def test_nonsense_beyond_use_hours_are_refused_as_before(api, world, session, role, hours):
    refused = api(role).patch(f"/products/{world.botox.id}", {"beyond_use_hours": hours, "reason": "typo"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    assert _error(refused)["details"]["field"] == "beyond_use_hours"
    assert _fresh(session, world.botox).beyond_use_hours == 24


def test_a_toxin_keeps_an_in_use_time(api, world, session):
    refused = api("admin").patch(f"/products/{world.botox.id}", {"beyond_use_hours": None, "reason": "none"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert _error(refused)["details"]["field"] == "beyond_use_hours"


# --- 2. single-dose ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "change"), [
    ("manager", {"single_dose": False}),
    ("admin", {"single_dose": False}),
    ("admin", {"single_dose": False, "reason": "We share vials"}),
    ("admin", {"single_dose": False, "multi_patient": True, "reason": "We share vials"}),
])
def test_qa_repro_nobody_takes_the_single_dose_mark_off_hylenex(api, world, session, role, change):
    hylenex = world.products["hylenex"]
    refused = api(role).patch(f"/products/{hylenex.id}", change)
    assert (refused.status_code, error_code(refused)) == (422, "always_single_patient"), refused.get_json()
    error = _error(refused)
    assert error["message"].startswith(
        "Hylenex recombinant 150 USP U/mL is hyaluronidase: every vial of it is single-dose, and an opened vial "
        "belongs to one patient")
    assert error["details"]["field"] == ("multi_patient" if "multi_patient" in change else "single_dose")
    assert error["details"]["kind"] == "hyaluronidase"
    fresh = _fresh(session, hylenex)
    assert (fresh.is_single_dose, fresh.is_multi_patient) == (True, False)
    assert _events(session, "product", hylenex.id, "product.changed") == []


def test_a_hyaluronidase_is_added_single_dose_and_never_otherwise(api, world, session):
    body = {"name": "Amphadase 150 USP U/mL", "kind": "hyaluronidase", "base_unit": "USP U", "form": "liquid",
            "concentration_per_ml": "150", "volume_ml": "1", "gtins": ["4006381333948"]}
    refused = api("admin").post("/products", body | {"single_dose": False, "reason": "We share vials"})
    assert (refused.status_code, error_code(refused)) == (422, "always_single_patient"), refused.get_json()
    assert _error(refused)["details"]["field"] == "single_dose"
    added = api("manager").post("/products", body)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["single_dose"] is True


def test_a_filler_is_never_made_multi_patient(api, world, session):
    filler = world.products["filler"]
    refused = api("admin").patch(f"/products/{filler.id}", {"multi_patient": True, "reason": "We share syringes"})
    assert (refused.status_code, error_code(refused)) == (422, "always_single_patient"), refused.get_json()
    assert _error(refused)["details"]["field"] == "multi_patient"
    assert "is a filler: an opened syringe belongs to one patient" in _error(refused)["message"]
    assert not _fresh(session, filler).is_multi_patient


def test_a_hyaluronidase_row_from_before_the_rule_serves_one_patient_and_may_still_be_saved(api, world, session):
    """A Hylenex row whose single-dose mark was taken off before the rule (as the QA pass did): its opened vial stays
    with its first patient, and its remainder is wasted when that treatment closes."""
    hylenex = world.products["hylenex"]
    hylenex.is_single_dose = False
    session.flush()
    assert hylenex.is_single_patient
    saved = api("manager").patch(f"/products/{hylenex.id}", {"storage": "2-8 °C, in the emergency kit"})
    assert saved.status_code == 200, saved.get_json()  # saved as it is: not refused for what it already was

    vial = world.container("hylenex", lot="HYL-OLD", expiry=FAR)
    nurse = api("nurse")
    first = treatment_for(nurse, world, "MRN-1")
    drawn = nurse.post(f"/treatments/{first['id']}/draws",
                       {"container": vial.label_code, "quantity": "30", "unit": "USP U", "area": "glabella"})
    assert drawn.status_code == 201, drawn.get_json()
    second = treatment_for(nurse, world, "MRN-2")
    other = nurse.post(f"/treatments/{second['id']}/draws",
                       {"container": vial.label_code, "quantity": "30", "unit": "USP U", "area": "glabella"})
    assert (other.status_code, error_code(other)) == (409, "container_other_patient"), other.get_json()
    closed = nurse.post(f"/treatments/{first['id']}/close", {})
    assert closed.status_code == 200, closed.get_json()
    session.expire_all()
    assert session.get(Container, vial.id).state is ContainerState.DISCARDED


def test_every_medicine_but_a_shared_toxin_is_single_patient():
    """Product.is_single_patient follows DOMAIN.md: a liquid that is not a toxin no longer falls through to
    shareable."""
    def product(kind: ProductKind, form: ProductForm | None, **flags) -> Product:
        return Product(name="x", kind=kind, form=form, requires_reconstitution=form is ProductForm.POWDER,
                       is_single_dose=flags.get("single_dose", False), is_multi_patient=flags.get("shared", False))

    assert product(ProductKind.HYALURONIDASE, ProductForm.LIQUID).is_single_patient
    assert product(ProductKind.HYALURONIDASE, ProductForm.LIQUID, shared=True).is_single_patient
    assert product(ProductKind.HYALURONIDASE, ProductForm.POWDER).is_single_patient
    assert product(ProductKind.FILLER, ProductForm.GEL, shared=True).is_single_patient
    assert product(ProductKind.NEUROMODULATOR, ProductForm.LIQUID).is_single_patient
    assert product(ProductKind.NEUROMODULATOR, ProductForm.POWDER).is_single_patient
    assert not product(ProductKind.NEUROMODULATOR, ProductForm.LIQUID, shared=True).is_single_patient
    assert not product(ProductKind.NEUROMODULATOR, ProductForm.POWDER, shared=True).is_single_patient
    assert product(ProductKind.NEUROMODULATOR, ProductForm.POWDER, shared=True, single_dose=True).is_single_patient
    assert not product(ProductKind.SUPPLY, None).is_single_patient


def _single_dose_toxin(session, world) -> Product:
    botox = world.botox
    botox.is_single_dose = True  # Xeomin and Jeuveau labels: "discard any remaining solution"
    session.flush()
    return botox


def test_a_manager_may_not_take_the_single_dose_mark_off_a_toxin(api, world, session):
    botox = _single_dose_toxin(session, world)
    refused = api("manager").patch(f"/products/{botox.id}", {"single_dose": False})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.get_json()
    error = _error(refused)
    assert error["message"] == ("Taking the single-dose mark off Botox Cosmetic 100 U (its label's one patient, one "
                                "session) loosens a safety limit: only an admin may, saying why. A manager may mark a "
                                "product single-dose.")
    assert error["details"]["field"] == "single_dose"
    assert _fresh(session, botox).is_single_dose


def test_an_admin_takes_the_single_dose_mark_off_only_saying_why(api, world, session):
    botox = _single_dose_toxin(session, world)
    admin = api("admin")
    refused = admin.patch(f"/products/{botox.id}", {"single_dose": False})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    error = _error(refused)
    assert error["message"] == ("Taking the single-dose mark off Botox Cosmetic 100 U (its label's one patient, one "
                                f"session) loosens a safety limit: {WHY}")
    assert error["details"]["field"] == "reason"
    assert error["details"]["loosened"] == [{"product_id": botox.id, "name": "Botox Cosmetic 100 U",
                                             "field": "single_dose", "from": True, "to": False}]
    assert _fresh(session, botox).is_single_dose
    saved = admin.patch(f"/products/{botox.id}", {"single_dose": False, "reason": "The 2026 label dropped it"})
    assert saved.status_code == 200 and saved.get_json()["single_dose"] is False
    (event,) = _events(session, "product", botox.id, "product.changed")
    assert event.details == {"is_single_dose": {"from": True, "to": False}, "reason": "The 2026 label dropped it",
                             "loosened": {"single_dose": "yes to no"}}


def test_a_manager_may_mark_a_product_single_dose(api, world, session):
    saved = api("manager").patch(f"/products/{world.botox.id}", {"single_dose": True})
    assert saved.status_code == 200, saved.get_json()
    assert _fresh(session, world.botox).is_single_dose


# --- 3. filler hold days ---------------------------------------------------------------------------------


def test_qa_repro_lengthening_filler_hold_days_needs_an_admins_reason(api, world, session):
    clinic = world.clinic
    admin = api("admin")
    refused = admin.patch(f"/clinics/{clinic.id}", {"filler_hold_days": 5})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    error = _error(refused)
    assert error["message"] == (
        "Lengthening the days an opened filler syringe is held for the same patient at Clinic LON (0 days to 5 days) "
        "loosens a safety rule: say why (e.g. the clinic's protocol for keeping opened syringes).")
    assert error["details"]["field"] == "reason"
    assert error["details"]["loosened"] == [{"clinic_id": clinic.id, "name": "Clinic LON",
                                             "field": "filler_hold_days", "from": 0, "to": 5}]
    session.expire_all()
    assert session.get(Clinic, clinic.id).filler_hold_days == 0
    assert _events(session, "clinic", clinic.id, "clinic.settings_changed") == []

    saved = admin.patch(f"/clinics/{clinic.id}", {"filler_hold_days": 5, "reason": "Touch-ups within the week"})
    assert saved.status_code == 200 and saved.get_json()["filler_hold_days"] == 5
    (event,) = _events(session, "clinic", clinic.id, "clinic.settings_changed")
    assert event.details == {"filler_hold_days": {"from": 0, "to": 5}, "reason": "Touch-ups within the week",
                             "loosened": {"filler_hold_days": "0 days to 5 days"}}

    shorter = admin.patch(f"/clinics/{clinic.id}", {"filler_hold_days": 2})  # stricter: no reason needed
    assert shorter.status_code == 200, shorter.get_json()
    assert _events(session, "clinic", clinic.id, "clinic.settings_changed")[-1].details == {
        "filler_hold_days": {"from": 5, "to": 2}}
    assert admin.patch(f"/clinics/{clinic.id}", {"filler_hold_days": 2}).status_code == 200  # as it is


def test_a_clinic_opened_with_filler_hold_days_needs_a_reason(api, world, session):
    admin = api("admin")
    body = {"code": "par", "name": "Paris", "timezone": "Europe/Paris", "filler_hold_days": 3}
    refused = admin.post("/clinics", body)
    assert (refused.status_code, error_code(refused)) == (422, "validation_error"), refused.get_json()
    assert _error(refused)["details"]["loosened"] == [{"clinic_id": None, "name": "Paris",
                                                       "field": "filler_hold_days", "from": 0, "to": 3}]
    assert session.scalar(select(Clinic).where(Clinic.code == "PAR")) is None
    opened = admin.post("/clinics", body | {"reason": "Paris keeps syringes for touch-ups"})
    assert opened.status_code == 201, opened.get_json()
    (event,) = _events(session, "clinic", opened.get_json()["id"], "clinic.created")
    assert (event.details["reason"], event.details["loosened"]) == ("Paris keeps syringes for touch-ups",
                                                                    {"filler_hold_days": "0 days to 3 days"})
    plain = admin.post("/clinics", {"code": "mad", "name": "Madrid", "timezone": "Europe/Madrid",
                                    "filler_hold_days": 0})
    assert plain.status_code == 201, plain.get_json()
