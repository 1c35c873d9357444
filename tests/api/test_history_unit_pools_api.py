"""The patient's history keeps every total in units that may be added: a toxin's per molecule (Botox 50 U and
100 U together, Dysport never with Botox), hyaluronidase per unit pool (USP U with USP U, IU with IU, never the
two together: DOMAIN.md "Hyaluronidase and emergency kits")."""

from __future__ import annotations

import pytest

from inventory.clinical import service as clinical
from inventory.models import Treatment
from inventory.services.permissions import Scope
from tests.factories import NOW, draw, make_product, reconstitute, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def treat_with_every_pool(world, session) -> Treatment:
    """One London treatment at NOW: Hylenex 150 USP U, Hyalase 1500 IU, Botox 100 U vial 20 U, Botox 50 U vial
    10 U, Dysport 50 U."""
    world.products["hyalase"] = make_product(session, "Hyalase 1500 IU")
    world.products["botox50"] = make_product(session, "Botox Cosmetic 50 U")
    treatment = start_treatment(world, "P-HYAL")
    draw(world, treatment, world.container("hylenex"), "150", "USP U", area="lip")
    draw(world, treatment, reconstitute(world, world.container("hyalase"), "1"), "1500", "IU", area="lip")
    draw(world, treatment, reconstitute(world, world.container("botox")), "20")
    draw(world, treatment, reconstitute(world, world.container("botox50"), "1.25"), "10", area="forehead")
    draw(world, treatment, reconstitute(world, world.container("dysport")), "50")
    session.flush()
    return treatment


@pytest.fixture
def treated(world, session, monkeypatch):
    monkeypatch.setattr("inventory.clinical.api.utcnow", lambda: NOW)  # the API answers at NOW
    return treat_with_every_pool(world, session)


def test_hyaluronidase_usp_units_and_iu_are_two_totals_never_one(api, world, treated):
    response = api("nurse").get(f"/patients/{treated.patient_id}/history")
    assert response.status_code == 200
    totals = {(m["molecule"], m["unit"]): m for m in response.get_json()["molecules"]}
    assert {key: (m["units_last_90_days"], m["last_session_units"]) for key, m in totals.items()} == {
        ("hyaluronidase", "USP U"): ("150", "150"),
        ("hyaluronidase", "IU"): ("1500", "1500"),
        # Botox's 50 U and 100 U vials are one molecule's units; Dysport's are another's.
        ("onabotulinumtoxinA", "U"): ("30", "30"),
        ("abobotulinumtoxinA", "U"): ("50", "50"),
    }
    assert totals[("hyaluronidase", "IU")]["last_treatment_id"] == treated.id
    assert response.get_json()["days_since_last_toxin"] == {"onabotulinumtoxinA": 0, "abobotulinumtoxinA": 0}


def test_the_service_answers_one_line_per_pool_in_a_stable_order(world, session, treated):
    history = clinical.patient_history(session, scope=Scope.everything(), patient_id=treated.patient_id, now=NOW)
    assert [(m.molecule, m.unit, m.units_last_90_days) for m in history.molecules] == [
        ("abobotulinumtoxinA", "U", 50), ("hyaluronidase", "IU", 1500), ("hyaluronidase", "USP U", 150),
        ("onabotulinumtoxinA", "U", 30),
    ]

