"""Scenes of stock moving between the demo world's clinics, shared by the API and page tests of transfers."""

from __future__ import annotations

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import NOW, draw, reconstitute, send_transfer, start_treatment


def received_in_new_york_then_drawn_for_a_patient(world, session):
    """A London vial sent to New York, received there, then mixed and drawn (4 U) for a New York patient:
    (transfer, vial, the patient's id)."""
    vial = world.container()
    transfer = send_transfer(world, [vial], user="clinic_manager")
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=NOW)
    nurse = world.users["other_nurse"]
    reconstitute(world, vial, user=nurse, scope=Scope.for_user(nurse))
    treatment = start_treatment(world, "NYC-PATIENT-77", user=nurse, clinic=world.other_clinic)
    draw(world, treatment, vial, "4", user=nurse)
    session.flush()
    return transfer, vial, treatment.patient_id
