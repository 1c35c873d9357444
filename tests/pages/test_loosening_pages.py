"""QA findings on the pages: the catalog edit page saved a manager's longer beyond-use time (72 h), and took the
single-dose mark off a hyaluronidase; the clinic page saved longer filler hold days without a reason; the catalog
said a ready-to-use liquid's in-use time starts "after reconstitution". Each refusal is said beside its field, with
what was typed kept."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.models import AuditEvent, Clinic, Product
from tests.factories import make_product
from tests.pages.conftest import csrf_token


def _form(product: Product, **changes) -> dict:
    """The product form as the edit page fills it in, with ``changes`` (None: the field left out, a box unticked)."""
    data = {"name": product.name, "brand": product.brand, "generic_name": product.generic_name,
            "manufacturer": product.manufacturer, "kind": product.kind.value, "molecule": product.molecule or "",
            "form": product.form.value if product.form else "", "base_unit": product.base_unit,
            "quantity_per_container": str(product.quantity_per_container),
            "strength_per_ml": str(product.strength_per_ml or ""), "volume_ml": str(product.volume_ml or ""),
            "beyond_use_hours": str(product.beyond_use_hours or ""), "gtins": product.gtins[0].gtin,
            "is_active": "y", "is_single_dose": "y" if product.is_single_dose else None,
            "session_max_units": str(product.session_max_units or ""),
            "session_max_areas": [a for a in (product.session_max_areas or "").split(",") if a],
            "cumulative_max_units": str(product.cumulative_max_units or ""),
            "cumulative_window_days": str(product.cumulative_window_days or ""),
            "retreat_interval_days": str(product.retreat_interval_days or "")}
    return {k: v for k, v in (data | changes).items() if v is not None}


def _save(client, product: Product, **changes):
    path = f"/catalog/{product.id}/edit"
    return client.post(path, data=_form(product, **changes) | {"csrf_token": csrf_token(client, path)})


def _fresh(session, product: Product) -> Product:
    session.expire_all()
    return session.get(Product, product.id)


def _beside(html: str, field_id: str) -> str:
    """The markup from the field's input to the end of its block: where its refusal is said."""
    return html.split(f'id="{field_id}"', 1)[1].split("</div>", 1)[0]


def test_qa_repro_a_managers_longer_beyond_use_time_is_refused_beside_the_field(browser_client, world, session):
    manager = browser_client("manager")
    botox = world.botox
    page = manager.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    assert "Shortening them is stricter and open to managers" in page and "only an admin may, saying why" in page
    refused = _save(manager, botox, beyond_use_hours="72")
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    beside = _beside(html, "p-beyond-use")
    assert 'value="72"' in beside  # what was typed stays
    assert ('<p class="field-error">Lengthening the beyond-use time of Botox Cosmetic 100 U (24 h to 72 h) loosens a '
            'safety limit: only an admin may, saying why. A manager may shorten it.</p>') in beside
    assert 'data-code="forbidden"' in html
    assert _fresh(session, botox).beyond_use_hours == 24


def test_a_manager_shortens_the_beyond_use_time(browser_client, world, session):
    saved = _save(browser_client("manager"), world.botox, beyond_use_hours="12")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert _fresh(session, world.botox).beyond_use_hours == 12


def test_an_admin_lengthens_the_beyond_use_time_only_saying_why(browser_client, world, session):
    admin = browser_client("admin")
    botox = world.botox
    refused = _save(admin, botox, beyond_use_hours="72")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Why (required: this save loosens what the label allows)" in html
    reason = html.split('id="p-reason"', 1)[1]
    assert "required" in reason.split(">", 1)[0]
    assert ("Lengthening the beyond-use time of Botox Cosmetic 100 U (24 h to 72 h) loosens a safety limit: say why "
            "(e.g. the new label, a clinical protocol).") in reason.split("</div>", 1)[0]
    assert 'value="72"' in _beside(html, "p-beyond-use")
    assert _fresh(session, botox).beyond_use_hours == 24

    saved = _save(admin, botox, beyond_use_hours="72", reason="Daxxify-style protocol, signed off")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert _fresh(session, botox).beyond_use_hours == 72
    page = admin.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    shown = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
    assert "beyond-use time 24 h to 72 h" in shown and "Why: Daxxify-style protocol, signed off." in shown
    trail = page.split('<ul class="audit-trail">', 1)[1]
    assert "Beyond-use hours: 24 → 72; Loosened: beyond-use time 24 h to 72 h; Why: Daxxify-style protocol, " \
           "signed off" in trail


def test_qa_repro_unticking_single_dose_on_hylenex_is_refused_for_everyone(browser_client, world, session):
    hylenex = world.products["hylenex"]
    for role in ("manager", "admin"):
        client = browser_client(role)
        page = client.get(f"/catalog/{hylenex.id}/edit").get_data(as_text=True)
        assert "Hyaluronidase is always single-dose" in page
        refused = _save(client, hylenex, is_single_dose=None, reason="We share vials" if role == "admin" else None)
        assert refused.status_code == 422, role
        html = refused.get_data(as_text=True)
        assert 'data-code="always_single_patient"' in html
        error = html.split('id="p-single-dose-error">', 1)[1].split("</p>", 1)[0]
        assert error.startswith("Hylenex recombinant 150 USP U/mL is hyaluronidase: every vial of it is single-dose")
        assert error.endswith("It stays single-dose, whoever asks: tick single-dose.")
        assert _fresh(session, hylenex).is_single_dose


def test_a_manager_unticking_single_dose_on_a_toxin_is_refused_beside_the_box(browser_client, world, session):
    botox = world.botox
    botox.is_single_dose = True
    session.flush()
    refused = _save(browser_client("manager"), botox, is_single_dose=None)
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert re.search(r'<input id="p-single-dose" name="is_single_dose" type="checkbox" value="y">', html)  # as sent
    error = html.split('id="p-single-dose-error">', 1)[1].split("</p>", 1)[0]
    assert error == ("Taking the single-dose mark off Botox Cosmetic 100 U (its label&#39;s one patient, one session) "
                     "loosens a safety limit: only an admin may, saying why. A manager may mark a product single-dose.")
    assert _fresh(session, botox).is_single_dose


def _clinic_form(clinic: Clinic, **changes) -> dict:
    data = {"code": clinic.code, "name": clinic.name, "timezone": clinic.timezone,
            "filler_hold_days": str(clinic.filler_hold_days), "kit_warning_days": str(clinic.kit_warning_days)}
    return data | changes


def test_qa_repro_longer_filler_hold_days_on_the_clinic_page_ask_why(browser_client, world, session):
    admin = browser_client("admin")
    clinic = world.clinic
    path = f"/clinics/{clinic.id}"
    assert "holding it more days than now is saved only with the reason" in admin.get(path).get_data(as_text=True)
    refused = admin.post(path, data=_clinic_form(clinic, filler_hold_days="5", kit_warning_days="21")
                         | {"csrf_token": csrf_token(admin, path)})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="5"' in _beside(html, "clinic-hold") and 'value="21"' in _beside(html, "clinic-kit-warning")
    assert "Why (required: this save holds an opened filler more days)" in html
    reason = html.split('id="clinic-reason"', 1)[1]
    assert "required" in reason.split(">", 1)[0]
    assert ("Lengthening the days an opened filler syringe is held for the same patient at Clinic LON (0 days to 5 "
            "days) loosens a safety rule") in reason.split("</div>", 1)[0]
    session.expire_all()
    assert session.get(Clinic, clinic.id).filler_hold_days == 0

    saved = admin.post(path, data=_clinic_form(clinic, filler_hold_days="5", reason="Touch-ups within the week")
                       | {"csrf_token": csrf_token(admin, path)})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    session.expire_all()
    assert session.get(Clinic, clinic.id).filler_hold_days == 5
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "clinic.settings_changed")).one()
    assert event.details["reason"] == "Touch-ups within the week"
    trail = admin.get(path).get_data(as_text=True).split('<ul class="audit-trail">', 1)[1]
    assert ("Days an opened filler is held for the same patient: 0 → 5; Loosened: days an opened filler is held 0 days "
            "to 5 days; Why: Touch-ups within the week") in trail


def test_a_clinic_opened_from_the_list_with_filler_hold_days_asks_why(browser_client, world, session):
    admin = browser_client("admin")
    data = {"code": "PAR", "name": "Paris", "timezone": "Europe/Paris", "filler_hold_days": "3",
            "kit_warning_days": "30"}
    refused = admin.post("/clinics", data=data | {"csrf_token": csrf_token(admin, "/clinics"),
                                                  "form_key": _form_key(admin)})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="Paris"' in html and 'value="3"' in _beside(html, "clinic-hold")
    assert "at Paris (0 days to 3 days) loosens a safety rule" in html.split('id="clinic-reason"', 1)[1]
    assert session.scalar(select(Clinic).where(Clinic.code == "PAR")) is None


def _form_key(client) -> str:
    html = client.get("/clinics").get_data(as_text=True)
    match = re.search(r'name="form_key" type="hidden" value="([^"]+)"', html) or \
        re.search(r'id="form_key" name="form_key" type="hidden" value="([^"]+)"', html)
    return match.group(1) if match else ""


def test_the_catalog_says_when_a_ready_to_use_liquids_in_use_time_starts(browser_client, world, session):
    alluzience = make_product(session, "Alluzience 125 s.U")
    html = browser_client("nurse").get("/catalog").get_data(as_text=True)

    def facts(product: Product) -> str:
        return html.split(f'id="product-{product.id}"', 1)[1].split("</li>", 1)[0]

    assert "<dt>Beyond use</dt><dd>24 h after first puncture</dd>" in facts(alluzience)
    assert "<dt>Beyond use</dt><dd>24 h after reconstitution</dd>" in facts(world.botox)
