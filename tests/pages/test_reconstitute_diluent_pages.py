"""The cart's Reconstitute form records which diluent was used (DOMAIN.md): the label's, offered by name and
chosen unless the nurse says otherwise, or bacteriostatic saline, an off-label choice kept as such on the vial,
its movement and its page."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.models import Movement, MovementKind, utcnow
from tests.factories import start_treatment
from tests.pages.conftest import csrf_token


def _mix(client, treatment, vial, **fields: str):
    token = csrf_token(client, f"/cart/treatments/{treatment.id}?container={vial.label_code}")
    return client.post(f"/cart/treatments/{treatment.id}/reconstitute",
                       data={"csrf_token": token, "container": vial.label_code, "diluent_ml": "2.5", **fields})


def _note(session, vial) -> str:
    return session.scalar(select(Movement.note).where(Movement.container_id == vial.id,
                                                      Movement.kind == MovementKind.ADJUST)) or ""


def test_the_form_offers_the_labels_diluent_by_name_and_the_off_label_choice(browser_client, world, session):
    vial = world.container("botox")
    treatment = start_treatment(world, "P-MIX", at=utcnow())
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?container={vial.label_code}") \
        .get_data(as_text=True)
    select_ = re.search(r'<select[^>]*id="diluent"[^>]*>(.*?)</select>', html, re.S)
    assert select_, "no Diluent choice on the Reconstitute form"
    options = re.findall(r'<option([^>]*)>([^<]*)</option>', select_.group(1))
    assert [text for _, text in options] == [f"{vial.product.labelled_diluent} (label)",
                                             "Bacteriostatic 0.9% saline (off-label)"]
    assert "selected" in options[0][0]


def test_the_off_label_diluent_is_recorded_on_the_vial_and_shown(browser_client, world, session):
    vial = world.container("botox")
    treatment = start_treatment(world, "P-MIX", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    assert _mix(client, treatment, vial, diluent="bacteriostatic", diluent_lot="BS-12").status_code == 302
    session.expire_all()
    assert vial.diluent_name == "bacteriostatic 0.9% sodium chloride (off-label)" and vial.diluent_lot == "BS-12"
    page = client.get(f"/containers/{vial.label_code}").get_data(as_text=True)
    assert "2.5 mL bacteriostatic 0.9% sodium chloride (off-label)" in page


def test_left_as_it_is_the_labels_diluent_is_recorded(browser_client, world, session):
    vial = world.container("botox")
    treatment = start_treatment(world, "P-MIX", at=utcnow())
    session.flush()
    assert _mix(browser_client("nurse"), treatment, vial, diluent="label").status_code == 302
    session.expire_all()
    assert vial.diluent_name == vial.product.labelled_diluent


def test_a_diluent_that_is_not_offered_is_refused_and_nothing_is_mixed(browser_client, world, session):
    vial = world.container("botox")
    treatment = start_treatment(world, "P-MIX", at=utcnow())
    session.flush()
    refused = _mix(browser_client("nurse"), treatment, vial, diluent="tap water")
    assert refused.status_code == 422
    session.expire_all()
    assert vial.reconstituted_at is None
