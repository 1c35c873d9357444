"""A patient reference that reads the same as one on file (another dash, fullwidth letters, an invisible
character) is refused, never made a second patient: her dose and re-treatment checks would start from nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.cart import service as cart
from inventory.models import Patient
from inventory.services.permissions import Scope
from tests.factories import World, refusal

# QA's cases, each beside P-1001 on file.
LOOKALIKES = {
    "non-breaking hyphen U+2011": "P\u20111001",
    "en dash": "P\u20131001",
    "em dash": "P\u20141001",
    "fullwidth hyphen-minus": "P\uff0d1001",
    "fullwidth P": "\uff30-1001",
    "minus sign U+2212": "P\u22121001",
    "zero-width space after": "P-1001\u200b",
    "word joiner inside": "P-\u20601001",
    "soft hyphen inside": "P-10\u00ad01",
    "byte order mark before": "\ufeffP-1001",
    "no-break space": "P\u00a01001",
    "fullwidth digits": "P-\uff11\uff10\uff10\uff11",
    "lower case with en dash": "p\u20131001",
}


def create(world: World, ref: str, name: str = "Amelia Hart") -> Patient:
    return cart.find_or_create_patient(world.session, scope=Scope.for_user(world.users["nurse"]), clinic_id=None,
                                       external_ref=ref, name=name)


def patients(world: World) -> int:
    return world.session.scalar(select(func.count(Patient.id)))


@pytest.mark.parametrize("lookalike", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_reference_that_reads_the_same_with_another_dash_width_or_invisible_character_is_refused(world, lookalike):
    amelia = create(world, "P-1001")
    before = patients(world)
    error = refusal(lambda: create(world, lookalike))
    assert error.code == "patient_ref_conflict" and error.details["patient_id"] == amelia.id
    assert error.details["field"] == "external_ref" and "looks like P-1001, already on file" in error.message
    assert patients(world) == before
    assert create(world, "P-1001").id == amelia.id  # the reference on file still finds her


@pytest.mark.parametrize("stored", ["P\u20111001", "P\u20131001", "\uff30\uff0d1001", "P-1001\u200b"])
def test_a_reference_stored_with_a_dash_or_invisible_character_is_matched_by_the_plain_one(world, stored):
    """Rows on file before this rule may hold these characters: typing the plain reference finds them too."""
    old = Patient(clinic_id=world.clinic.id, external_ref=stored, name="Amelia Hart")
    world.session.add(old)
    world.session.flush()
    for typed in ("P-1001", "p 1001", "P\u20141001"):
        error = refusal(lambda: create(world, typed))
        assert error.code == "patient_ref_conflict" and error.details["patient_id"] == old.id, typed
        assert f"looks like {stored}" in error.message
    assert create(world, stored).id == old.id  # typed exactly as stored, she is found as before


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u200e"])
def test_a_new_reference_with_an_invisible_character_is_refused(world, invisible):
    before = patients(world)
    error = refusal(lambda: create(world, f"MRN{invisible}-77", name="Nora Test"))
    assert (error.code, error.details["field"]) == ("validation_error", "external_ref")
    assert error.message == (
        f"The patient reference has an invisible character in it (U+{ord(invisible):04X}), most likely pasted with "
        "it. Type the reference by hand or scan the patient's card.")
    assert patients(world) == before
    # Retyped without it, she is a new patient; the reference is stored trimmed of spaces, wide ones too.
    assert create(world, "\u00a0MRN-77\u3000 ", name="Nora Test").external_ref == "MRN-77"


def test_only_a_reference_that_reads_the_same_at_the_same_clinic_is_refused(world):
    amelia = create(world, "P-1001")
    assert refusal(lambda: create(world, "P\u20131001")).details["patient_id"] == amelia.id
    others = [create(world, ref, name=f"Patient {ref}") for ref in ("P-1002", "P\u201310011", "M\u00fcller-01")]
    assert amelia.id not in {patient.id for patient in others} and len({patient.id for patient in others}) == 3
    elsewhere = cart.find_or_create_patient(world.session, scope=Scope.for_user(world.users["other_nurse"]),
                                            clinic_id=None, external_ref="P\u20131001", name="Someone Else")
    assert elsewhere.clinic_id == world.other_clinic.id and elsewhere.external_ref == "P\u20131001"
