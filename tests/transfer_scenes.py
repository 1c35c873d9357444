"""Scenes of stock moving between the demo world's clinics, shared by the API and page tests of transfers."""

from __future__ import annotations

from inventory.models import Role
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import NOW, draw, make_clinic, make_user, patient, reconstitute, send_transfer, start_treatment


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


LON_PATIENT = "Lucy Londoner"


def lot_on_the_road_to_new_york(world, session) -> dict:
    """Lot INC1 in London: a vial on its way to New York, one on the shelf, one opened for a London patient
    (LON_PATIENT); safety leads of New York, of Paris (neither end) and of London, as ``users`` and in
    world.users (``nyc_safety``, ``par_safety``, ``lon_safety``)."""
    on_shelf, on_road, opened = world.receive("botox", lot="INC1", containers=3).containers
    reconstitute(world, opened)
    lon_patient = patient(world, "LON-7", name=LON_PATIENT)
    draw(world, start_treatment(world, lon_patient), opened, "4")
    transfer = send_transfer(world, [on_road])
    paris = make_clinic(session, "PAR", "Europe/Paris")
    world.users["nyc_safety"] = make_user(session, "nyc-safety", Role.SAFETY_LEAD, [world.other_clinic])
    world.users["par_safety"] = make_user(session, "par-safety", Role.SAFETY_LEAD, [paris])
    users = {"nyc": world.users["nyc_safety"], "par": world.users["par_safety"], "lon": world.lon_safety_lead()}
    session.flush()
    return {"vial": on_road, "shelf": on_shelf, "opened": opened, "transfer": transfer, "lot_id": on_road.lot_id,
            "users": users}


def vial_on_its_way_to_new_york(world, session):
    """A London Botox vial (lot INC7) on its way to New York's fridge: (vial, transfer)."""
    vial = world.container("botox", lot="INC7")
    transfer = send_transfer(world, [vial], user="clinic_manager", to=world.location("Fridge", world.other_clinic))
    session.flush()
    return vial, transfer


def box_lost_on_the_road(world, session):
    """Lot LOST9 in London's fridge: two vials sent to New York and declared lost by London (the courier lost the
    box), a third kept on the shelf: (transfer, the two lost vials, the kept one)."""
    *travelling, kept = world.receive("botox", lot="LOST9", containers=3).containers
    transfer = send_transfer(world, travelling, user="clinic_manager")
    london = world.users["clinic_manager"]
    clinic_transfers.declare_lost(session, actor=london, scope=Scope.for_user(london), transfer_id=transfer.id,
                                  reason="courier reports the parcel lost", now=NOW)
    world.nyc_manager()
    session.flush()
    return transfer, travelling, kept
