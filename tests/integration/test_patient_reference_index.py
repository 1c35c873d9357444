"""A patient's reference looked up across the chain (migration 0022): a chain-level user's scan of something
that is not a vial's code asks whether it is a patient's card, and names no clinic; an index on the reference
alone serves it, where the unique (clinic_id, external_ref) index serves only look-ups that name the clinics.
A reference typed loosely, and a new reference's look-alike check, seek the key stored with each patient
(migration 0023). Plans are PostgreSQL's (behaviour, never timing: tests/statements.py)."""

from __future__ import annotations

import pytest

from inventory.cart import service as cart
from inventory.errors import PatientRefConflict, UnreadableCode
from inventory.services import scanning
from inventory.services.permissions import Scope
from tests.factories import NOW, patient as make_patient
from tests.statements import plan, recorded


@pytest.mark.parametrize("scope", ["chain", "clinic"])
def test_a_patients_card_scanned_is_found_through_an_index(world, session, backend, scope):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    patient = make_patient(world, "P-CARD-77")
    allowed = Scope.everything() if scope == "chain" else Scope.for_user(world.users["nurse"])
    with recorded(session) as sent, pytest.raises(UnreadableCode) as refused:
        scanning.scan(session, "P-CARD-77", scope=allowed, now=NOW, timezone="Europe/London")
    assert refused.value.details.get("patient_reference") is True and patient.external_ref == "P-CARD-77"
    (lookup,) = [s for s in sent if "FROM patients" in s[0]]
    shown = plan(session, *lookup)
    assert "Seq Scan" not in shown
    if scope == "chain":  # the clinics' index cannot seek without a clinic: only the reference's can
        assert "ix_patients_external_ref" in shown


@pytest.mark.parametrize("scope", ["chain", "clinic"])
def test_a_reference_typed_loosely_is_found_through_its_key(world, session, backend, scope):
    """Migration 0023: "p 1001" finds P-1001 by the key stored with each patient, one seek at any number of
    patients; it read every patient of the clinics whose reference held more than printable ASCII before."""
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    patient = make_patient(world, "P-LOOSE-1001")
    allowed = Scope.everything() if scope == "chain" else Scope.for_user(world.users["nurse"])
    with recorded(session) as sent:
        assert cart.find_patients(session, scope=allowed, external_ref="p loose 1001") == [patient]
    (lookup,) = [s for s in sent if "FROM patients" in s[0]]
    shown = plan(session, *lookup, without=("ix_patients_external_ref",))
    assert "ix_patients_ref_key" in shown and "Seq Scan" not in shown


def test_a_new_references_look_alike_check_seeks_its_key(world, session, backend):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    make_patient(world, "P-LOOSE-2002")
    with recorded(session) as sent, pytest.raises(PatientRefConflict):
        make_patient(world, "p loose 2002")
    (check,) = [s for s in sent if "patients.ref_key = " in s[0]]
    shown = plan(session, *check)
    assert "ix_patients_ref_key" in shown and "Seq Scan" not in shown
