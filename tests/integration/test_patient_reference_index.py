"""A patient's reference looked up across the chain (migration 0022): a chain-level user's scan of something
that is not a vial's code asks whether it is a patient's card, and names no clinic; an index on the reference
alone serves it, where the unique (clinic_id, external_ref) index serves only look-ups that name the clinics.
Plans are PostgreSQL's (behaviour, never timing: tests/statements.py)."""

from __future__ import annotations

import pytest

from inventory.errors import UnreadableCode
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
