"""Acceptance defects on the pages: a vial scanned from an emergency kit is drawn as an emergency unless the
nurse says otherwise, and the kit board says it was used; the trace page finds a patient by her reference
however it is typed, and records the look-up as typed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from inventory.kits import service as kits
from inventory.models import AuditEvent, Draw, utcnow
from tests import kit_factories
from tests.factories import patient, start_treatment
from tests.pages.conftest import csrf_token


def why_selected(html: str) -> str | None:
    select_html = re.search(r'<select id="emergency" name="emergency">(.*?)</select>', html, re.S)
    assert select_html, "no Why field on the page"
    chosen = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select_html.group(1))
    return (chosen.group(1) or chosen.group(2)) if chosen else None


def test_a_kit_vial_at_the_cart_is_preselected_as_an_emergency(browser_client, world, session):
    kit = kit_factories.stocked_kit(world)
    kit_vial = kits.contents(session, kit)[0]
    fridge_vial = world.container("hylenex", lot="FR1", expiry=dt.date(2099, 12, 31))
    treatment = start_treatment(world, "P-KITWHY", at=utcnow())
    session.flush()
    client = browser_client("nurse")

    kit_page = client.get(f"/cart/treatments/{treatment.id}?container={kit_vial.label_code}").get_data(as_text=True)
    fridge_page = client.get(f"/cart/treatments/{treatment.id}?container={fridge_vial.label_code}").get_data(
        as_text=True)

    assert "kit-item" in kit_page and why_selected(kit_page) == "emergency"
    assert "kit-item" not in fridge_page and why_selected(fridge_page) in (None, "")


def test_a_kit_vial_drawn_with_the_page_defaults_is_recorded_as_an_emergency(browser_client, world, session):
    kit = kit_factories.stocked_kit(world)
    (spare,) = kit_factories.stock(world, kit, "hylenex", lot="SPARE1")
    kit_factories.check(world, kit, at=utcnow() - dt.timedelta(hours=1))
    treatment = start_treatment(world, "P-KITDRAW", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}?container={spare.label_code}"
    html = client.get(page).get_data(as_text=True)
    response = client.post(f"/cart/treatments/{treatment.id}/draws", data={
        "csrf_token": csrf_token(client, page), "container": spare.label_code, "quantity": "150", "unit": "USP U",
        "area": "lip", "emergency": why_selected(html) or "",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Draw.reason).where(Draw.container_id == spare.id)) == "emergency"
    board = client.get("/kits").get_data(as_text=True)
    assert "Used in an emergency on" in board


@pytest.mark.parametrize("typed", ["p-2005", "P2005", "p 2005", " P-2005 "])
def test_the_trace_page_finds_a_patient_however_her_reference_is_typed(browser_client, world, session, typed):
    lena = patient(world, "P-2005", name="Lena Fox")
    session.flush()
    html = browser_client("safety").get("/trace", query_string={"patient": typed}).get_data(as_text=True)
    assert "No patient with that reference" not in html
    assert f"/trace/patients/{lena.id}" in html and "Lena Fox" in html
    session.expire_all()
    (entry,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed"))
    assert entry.details == {"view": "patient_search", "external_ref": typed.strip(), "patient_ids": [lena.id]}


def test_the_trace_page_still_says_when_no_patient_reads_as_the_reference(browser_client, world, session):
    patient(world, "P-2005", name="Lena Fox")
    session.flush()
    html = browser_client("safety").get("/trace?patient=P-2006").get_data(as_text=True)
    assert "No patient with that reference in your clinics." in html
