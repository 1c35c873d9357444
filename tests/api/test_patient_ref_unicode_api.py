"""POST /api/v1/patients refuses a reference that reads the same as one on file with another dash, or with an
invisible character, as it refuses "p-1001" for P-1001: 409 patient_ref_conflict, and no second patient."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.models import Patient
from tests.api.conftest import error_code


def test_a_dash_or_invisible_character_lookalike_is_409_and_a_new_invisible_reference_422(api, world, session):
    nurse = api("nurse")
    created = nurse.post("/patients", {"external_ref": "P-1001", "name": "Amelia Hart"})
    assert created.status_code == 201
    before = session.scalar(select(func.count(Patient.id)))
    for lookalike in ("P\u20111001", "P\u20131001", "P\u20141001", "P\uff0d1001", "\uff30-1001", "P-1001\u200b"):
        refused = nurse.post("/patients", {"external_ref": lookalike, "name": "Amelia Hart"})
        assert refused.status_code == 409 and error_code(refused) == "patient_ref_conflict", lookalike
        assert refused.get_json()["error"]["details"]["patient_id"] == created.get_json()["id"]
        assert "looks like P-1001" in refused.get_json()["error"]["message"]
    invisible = nurse.post("/patients", {"external_ref": "P-2001\u2060", "name": "Nora Test"})
    assert invisible.status_code == 422 and error_code(invisible) == "validation_error"
    assert session.scalar(select(func.count(Patient.id))) == before
