"""Kit pages: the board, a kit (scan in, take out, record a check), templates and new kits, the expiry watch."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.models import LotStatus
from inventory.kits.models import Kit, KitCheck, KitStatus, KitTemplate
from inventory.services import ledger
from tests.factories import NOW
from tests.kit_factories import check, days, new_kit, stock, stocked_kit
from tests.pages.conftest import csrf_token


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)


def test_the_board_shows_each_kit_in_colour_and_words_most_urgent_first(browser_client, world):
    ready = stocked_kit(world)
    check(world, ready)
    new_kit(world, name="Emergency kit (room 2)")
    html = browser_client("safety").get("/kits").get_data(as_text=True)
    assert html.index("Emergency kit (room 2)") < html.index("Emergency kit (room 1)")
    assert 'class="kit-card kit-not_ready"' in html and 'class="kit-card kit-ready"' in html
    assert "Never checked; checked every 7 days" in html
    assert "Syringes 1 mL: 0 each of 2 each" in html
    assert "1 not ready" in html and "1 ready" in html
    assert 'href="/kits"' in html  # in the navigation
    assert "style=" not in html and "<script>" not in html  # the CSP forbids inline style and script


def test_a_nurse_scans_a_vial_into_a_kit_and_records_a_check(browser_client, world, session):
    kit = new_kit(world)
    stock(world, kit, "hylenex")
    stock(world, kit, "syringe", count=2, lot="SY2026")
    (vial,) = world.receive("hylenex", lot="FRIDGE1", location=world.location("Fridge")).containers
    client = browser_client("nurse")
    page = client.get(f"/kits/{kit.id}").get_data(as_text=True)
    assert 'class="scan"' in page and "autofocus" in page
    assert "Hyaluronidase: 150 USP U of 300 USP U" in page

    token = csrf_token(client, f"/kits/{kit.id}")
    added = client.post(f"/kits/{kit.id}/contents", data={"code": vial.label_code.lower(), "csrf_token": token})
    assert added.status_code == 302
    page = client.get(f"/kits/{kit.id}").get_data(as_text=True)
    assert "FRIDGE1" in page and "Hyaluronidase: 150 USP U" not in page
    assert '<span class="kit-pill kit-ready">Met</span>' in page  # the checklist line

    again = client.post(f"/kits/{kit.id}/contents", data={"code": vial.label_code, "csrf_token": token})
    assert again.status_code == 409 and "is already in Emergency kit (room 1)" in again.get_data(as_text=True)

    no_seal = client.post(f"/kits/{kit.id}/checks", data={"notes": "x", "csrf_token": token})
    assert no_seal.status_code == 422 and "Say whether the seal was intact." in no_seal.get_data(as_text=True)
    checked = client.post(f"/kits/{kit.id}/checks", data={"seal_intact": "yes", "notes": "ok", "csrf_token": token})
    assert checked.status_code == 302
    session.expire_all()
    (stored,) = session.scalars(select(KitCheck).where(KitCheck.kit_id == kit.id)).all()
    assert (stored.checked_at, stored.seal_intact, stored.status) == (NOW, True, KitStatus.READY)
    assert "Check recorded: ready." in client.get(f"/kits/{kit.id}").get_data(as_text=True)
    assert ledger.find_balance_mismatches(session) == []


def test_a_quarantined_vial_is_taken_out_of_a_kit(browser_client, world, session):
    kit = stocked_kit(world)
    (bad,) = stock(world, kit, "hylenex", lot="QBAD")
    bad.lot.status = LotStatus.QUARANTINED
    session.flush()
    client = browser_client("nurse")
    page = client.get(f"/kits/{kit.id}").get_data(as_text=True)
    assert "Contains quarantined lot QBAD of Hylenex recombinant 150 USP U/mL: remove it" in page
    token = csrf_token(client, f"/kits/{kit.id}")
    fridge = world.location("Fridge")
    response = client.post(f"/kits/{kit.id}/remove",
                           data={"code": bad.label_code, "to_location_id": str(fridge.id), "csrf_token": token})
    assert response.status_code == 302
    again = client.post(f"/kits/{kit.id}/remove",
                        data={"code": bad.label_code, "to_location_id": str(fridge.id), "csrf_token": token})
    assert again.status_code == 409 and "is not in Emergency kit (room 1)" in again.get_data(as_text=True)
    session.expire_all()
    assert bad.location_id == fridge.id
    assert "QBAD" not in client.get(f"/kits/{kit.id}").get_data(as_text=True)


def test_a_scan_taken_out_of_a_kit_waits_for_where_it_goes(browser_client, world, session):
    """QA: a label scanned into "Take something out" sent the form at once, and the hyaluronidase went to the
    place first in the list. No place is chosen for her: she names it, and the scanned code waits."""
    kit = stocked_kit(world)
    (vial,) = stock(world, kit, "hylenex", lot="HOUT")
    session.flush()
    client = browser_client("nurse")
    page = client.get(f"/kits/{kit.id}").get_data(as_text=True)
    assert '<option value="0">Choose where it goes</option><option' in page  # first, so chosen until she picks
    token = csrf_token(client, f"/kits/{kit.id}")
    for place in ("0", ""):  # the list as it comes, or no choice sent at all
        refused = client.post(f"/kits/{kit.id}/remove",
                              data={"code": vial.label_code, "to_location_id": place, "csrf_token": token})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and "Choose where it goes first" in html
        assert f'value="{vial.label_code}"' in html  # the scan is kept for when she has chosen
    session.expire_all()
    assert vial.location_id == kit.location_id
    fridge = world.location("Fridge")
    taken = client.post(f"/kits/{kit.id}/remove",
                        data={"code": vial.label_code, "to_location_id": str(fridge.id), "csrf_token": token})
    assert taken.status_code == 302
    session.expire_all()
    assert vial.location_id == fridge.id


def test_another_clinics_kit_is_not_found_and_templates_are_for_managers(browser_client, world):
    kit = new_kit(world, world.other_clinic, name="NYC kit")
    nurse = browser_client("nurse")
    assert nurse.get(f"/kits/{kit.id}").status_code == 404
    assert "NYC kit" not in nurse.get("/kits").get_data(as_text=True)
    assert nurse.get("/kit-templates").status_code == 403
    assert 'href="/kit-templates"' not in nurse.get("/kits").get_data(as_text=True)


def test_a_manager_creates_a_template_and_a_kit(browser_client, world, session):
    client = browser_client("clinic_manager")
    assert client.get("/kit-templates").status_code == 200
    token = csrf_token(client, "/kit-templates")
    form = {
        "csrf_token": token, "name": "Vascular occlusion kit", "description": "Filler rooms",
        "check_interval_days": "7", "warning_days": "30",
        "requirements-0-label": "Hyaluronidase", "requirements-0-target": "kind:hyaluronidase",
        "requirements-0-min_quantity": "1500", "requirements-0-min_days_to_expiry": "30",
        "requirements-1-label": "Syringes 1 mL", "requirements-1-target": f"product:{world.products['syringe'].id}",
        "requirements-1-min_quantity": "10", "requirements-1-min_days_to_expiry": "0",
    }
    created = client.post("/kit-templates", data=form)
    assert created.status_code == 302, created.get_data(as_text=True)
    template = session.scalar(select(KitTemplate).where(KitTemplate.name == "Vascular occlusion kit"))
    assert [(r.label, r.product_kind, r.product_id, r.min_quantity, r.min_days_to_expiry)
            for r in template.requirements] == [
        ("Hyaluronidase", "hyaluronidase", None, 1500, 30), ("Syringes 1 mL", None, world.products["syringe"].id, 10, 0)]
    half = form | {"name": "Half", "requirements-1-min_quantity": ""}
    refused = client.post("/kit-templates", data=half)
    assert refused.status_code == 422 and "Requirement 2: give a label" in refused.get_data(as_text=True)

    page = client.get("/kit-templates").get_data(as_text=True)
    assert "New kit" in page and "any hyaluronidase product" in page
    # QA: "any one product, units of that product" said the opposite of what the board adds up.
    assert "1500 in one unit" in page and "IU and USP U each add up across products" in page
    assert "any one" not in page and "of that product" not in page
    kit = client.post("/kits/new", data={"csrf_token": token, "template_id": str(template.id), "name": "Room 2 kit",
                                         "place": f"clinic:{world.clinic.id}"})
    assert kit.status_code == 302
    created_kit = session.scalar(select(Kit).where(Kit.name == "Room 2 kit"))
    assert kit.headers["Location"] == f"/kits/{created_kit.id}"
    assert (created_kit.location.name, created_kit.location.kind.value) == ("Room 2 kit", "kit")


def test_the_expiry_watch_switches_between_30_60_and_90_days(browser_client, world):
    world.receive("hylenex", lot="SOON7", expiry=days(7), location=world.location("Fridge"))
    world.receive("botox", lot="LATER50", expiry=days(50), location=world.location("Cart"))
    client = browser_client("nurse")
    thirty = client.get("/stock/expiring").get_data(as_text=True)
    assert "SOON7" in thirty and "LATER50" not in thirty and "Expiring within 30 days" in thirty
    sixty = client.get("/stock/expiring?days=60").get_data(as_text=True)
    assert "SOON7" in sixty and "LATER50" in sixty
    assert sixty.index("LON · Fridge") < sixty.index("LON · Cart")
    assert 'href="/stock/expiring?days=60" aria-current="page"' in sixty
    assert 'href="/stock/expiring"' in thirty  # in the navigation


def test_the_expiry_watch_takes_any_window_the_api_takes_and_says_when_it_cannot(browser_client, world):
    """QA: ?days=45 showed 30 days without a word, where the API answers 45."""
    world.receive("hylenex", lot="SOON7", expiry=days(7), location=world.location("Fridge"))
    world.receive("botox", lot="LATER40", expiry=days(40), location=world.location("Cart"))
    client = browser_client("nurse")
    forty_five = client.get("/stock/expiring?days=45").get_data(as_text=True)
    assert "Expiring within 45 days" in forty_five and "LATER40" in forty_five
    assert 'id="window-not-understood"' not in forty_five
    for asked in ("400", "abc", "-5"):
        shown = client.get(f"/stock/expiring?days={asked}").get_data(as_text=True)
        assert "Expiring within 30 days" in shown and "LATER40" not in shown
        assert "is not a window of 0 to 366 days: showing 30 days." in shown, asked
