"""At the cart: patients, treatments, reconstitution, draws, waste, closing and corrections.

Each view parses, calls one service of ``inventory.cart.service`` and serialises;
every rule lives in the service. Views that change stock accept an Idempotency-Key.
"""

from __future__ import annotations

from inventory.cart.schemas import (
    BeyondUseWasteIn,
    ClosedTreatmentOut,
    ContainerList,
    DrawIn,
    DrawOut,
    MovementList,
    MovementOut,
    PatientContactIn,
    PatientIn,
    PatientList,
    PatientOut,
    PatientQuery,
    ReconstituteIn,
    ReverseIn,
    TreatmentIn,
    TreatmentOut,
    WasteIn,
)
from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import ClinicQuery, ContainerOut
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services import scanning
from inventory.cart import service as cart
from inventory.clinical import service as clinical
from inventory.services.permissions import Permission


def _container_id(ref: str | int) -> int:
    """A container's id from an id or a scanned label; another clinic's answers unknown_container."""
    return scanning.container_by_ref(db.session, ref, current_scope()).id


# --- patients and treatments -----------------------------------------------------------


@operation("POST", "/patients", summary="Find or add a patient by the clinic's reference",
           permission=Permission.CART, body=PatientIn, response=PatientOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def create_patient(body: PatientIn) -> PatientOut:
    patient = cart.find_or_create_patient(
        db.session, scope=current_scope(), clinic_id=body.clinic_id, external_ref=body.external_ref,
        name=body.name, date_of_birth=body.date_of_birth, viewer=current_user(), view="patients_api_find",
    )
    return PatientOut.of(patient)


@operation("PATCH", "/patients/<int:patient_id>", summary="A patient's phone, email and address (recall lists)",
           permission=Permission.CART, body=PatientContactIn, response=PatientOut, errors=(404, 422))
def update_patient_contact(patient_id: int, body: PatientContactIn) -> PatientOut:
    return PatientOut.of(cart.update_contact(db.session, actor=current_user(), scope=current_scope(),
                                             patient_id=patient_id, changes=body.model_dump(include=body.model_fields_set),
                                             now=utcnow()))


@operation("GET", "/patients", summary="Patients with a reference, in the caller's clinics",
           permission=Permission.CART, query=PatientQuery, response=PatientList, errors=(422,))
def list_patients(query: PatientQuery) -> PatientList:
    patients = cart.find_patients(db.session, scope=current_scope(), external_ref=query.external_ref)
    # Names, birth dates and contact details: an access-log entry, as the Patients page's search.
    clinical.record_patient_search(db.session, viewer=current_user(), view="patients_api",
                                   query=query.external_ref, patients=patients, now=utcnow())
    return PatientList(patients=[PatientOut.of(p) for p in patients])


@operation("POST", "/treatments", summary="Start a treatment of a patient in a room",
           permission=Permission.CART, body=TreatmentIn, response=TreatmentOut, status=201, idempotent=True,
           errors=(404, 422))
def create_treatment(body: TreatmentIn) -> TreatmentOut:
    treatment = cart.start_treatment(
        db.session, actor=current_user(), scope=current_scope(), patient_id=body.patient_id,
        location_id=body.location_id, now=utcnow(),
    )
    return TreatmentOut.of(treatment)


@operation("GET", "/treatments/<int:treatment_id>", summary="A treatment with its draws and totals per product",
           permission=Permission.CART, response=TreatmentOut, errors=(404,))
def get_treatment(treatment_id: int) -> TreatmentOut:
    summary = cart.treatment_summary(db.session, treatment_id, current_scope())
    return TreatmentOut.of(summary.treatment, summary)


@operation("POST", "/treatments/<int:treatment_id>/draws", summary="Draw a dose for the treatment's patient",
           permission=Permission.CART, body=DrawIn, response=DrawOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def create_draw(treatment_id: int, body: DrawIn) -> DrawOut:
    result = cart.draw(
        db.session, actor=current_user(), scope=current_scope(), treatment_id=treatment_id,
        # The draw locks the container and answers unknown_container itself: no read before it.
        container_id=scanning.container_id_of(db.session, body.container, current_scope()),
        quantity=body.quantity, unit=body.unit, area=body.area,
        area_detail=body.area_detail, reason=body.reason, confirm=body.confirm, confirm_reason=body.confirm_reason,
        adverse_event_id=body.adverse_event_id, now=utcnow(),
    )
    return DrawOut.of(result)


@operation("POST", "/treatments/<int:treatment_id>/close",
           summary="Close a treatment, wasting what single-patient rules require",
           permission=Permission.CART, response=ClosedTreatmentOut, idempotent=True, errors=(404, 409))
def close_treatment(treatment_id: int) -> ClosedTreatmentOut:
    closed = cart.close_treatment(
        db.session, actor=current_user(), scope=current_scope(), treatment_id=treatment_id, now=utcnow()
    )
    summary = cart.treatment_summary(db.session, treatment_id, current_scope())
    return ClosedTreatmentOut(
        treatment=TreatmentOut.of(closed.treatment, summary),
        wasted=[MovementOut.of(m) for m in closed.wasted],
        held=[ContainerOut.of(c) for c in closed.held],
        set_aside=[ContainerOut.of(c) for c in closed.set_aside],
    )


# --- containers --------------------------------------------------------------------------


@operation("POST", "/containers/<container_ref>/reconstitute", summary="Record a vial's reconstitution",
           permission=Permission.CART, body=ReconstituteIn, response=ContainerOut, idempotent=True,
           errors=(404, 409, 422))
def reconstitute(container_ref: str, body: ReconstituteIn) -> ContainerOut:
    container = cart.reconstitute(
        db.session, actor=current_user(), scope=current_scope(), container_id=_container_id(container_ref),
        diluent_ml=body.diluent_ml, diluent_name=body.diluent_name, diluent_lot=body.diluent_lot, now=utcnow(),
    )
    return ContainerOut.of(container)


@operation("POST", "/containers/<container_ref>/waste", summary="Waste part or all of a container",
           permission=Permission.CART, body=WasteIn, response=MovementOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def waste(container_ref: str, body: WasteIn) -> MovementOut:
    movement = cart.waste(
        db.session, actor=current_user(), scope=current_scope(), container_id=_container_id(container_ref),
        quantity=body.quantity, reason=body.reason, note=body.note, now=utcnow(),
    )
    return MovementOut.of(movement)


@operation("GET", "/containers/beyond-use",
           summary="Reconstituted containers past beyond-use with something left (?clinic_id=)",
           permission=Permission.CART, query=ClinicQuery, response=ContainerList, errors=(404, 422))
def list_beyond_use(query: ClinicQuery) -> ContainerList:
    scope = current_scope().narrowed_to(db.session, query.clinic_id)
    containers = cart.beyond_use_containers(db.session, scope=scope, now=utcnow())
    return ContainerList(containers=[ContainerOut.of(c) for c in containers])


@operation("POST", "/containers/beyond-use/waste", summary="Waste every (or the named) container past beyond-use",
           permission=Permission.CART, body=BeyondUseWasteIn, response=MovementList, status=201, idempotent=True,
           errors=(404, 422))
def waste_beyond_use(body: BeyondUseWasteIn) -> MovementList:
    movements = cart.waste_beyond_use(
        db.session, actor=current_user(), scope=current_scope(), container_ids=body.container_ids, now=utcnow()
    )
    return MovementList(movements=[MovementOut.of(m) for m in movements])


@operation("POST", "/movements/<int:movement_id>/reverse", summary="Correct a mistaken draw or waste",
           permission=Permission.CART, body=ReverseIn, response=MovementOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def reverse_movement(movement_id: int, body: ReverseIn) -> MovementOut:
    movement = cart.reverse(
        db.session, actor=current_user(), scope=current_scope(), movement_id=movement_id, reason=body.reason,
        now=utcnow(),
    )
    return MovementOut.of(movement)
