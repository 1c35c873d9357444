"""Emergency kits (readiness, checks, contents, templates) and the expiry watch.

Restocking a kit (adding or removing a container) needs only Permission.KIT_CHECK:
in most clinics the nurse who checks the kit at the cart is the one who restocks it,
and the move is an ordinary, audited pair of ledger movements.
"""

from __future__ import annotations

from decimal import Decimal

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import ClinicQuery, ContainerOut
from inventory.kits.schemas import (
    ClinicsWithoutKitOut,
    ClinicsWithoutKitQuery,
    ClinicWithoutKitOut,
    ExpiringLocationOut,
    ExpiringOut,
    ExpiringQuery,
    KitCheckIn,
    KitCheckOut,
    KitContentIn,
    KitDetailOut,
    KitIn,
    KitList,
    KitOut,
    KitReadinessList,
    KitReadinessOut,
    KitReadinessQuery,
    KitRemoveIn,
    KitTemplateIn,
    KitTemplateList,
    KitTemplateOut,
    ReasonOut,
    RequirementLineOut,
)
from inventory.extensions import db
from inventory.models import ProductKind, utcnow
from inventory.kits import service as kits
from inventory.services.permissions import Permission


@operation("GET", "/kits/readiness", summary="Readiness of every kit the caller can see (?clinic_id=, ?status=)",
           permission=Permission.KIT_CHECK, query=KitReadinessQuery, response=KitReadinessList, errors=(404, 422))
def kits_readiness(query: KitReadinessQuery) -> KitReadinessList:
    states = kits.readiness(db.session, scope=current_scope().narrowed_to(db.session, query.clinic_id), now=utcnow())
    return KitReadinessList([KitReadinessOut.of(state) for state in states
                             if query.status is None or state.status is query.status])


@operation("GET", "/kits/readiness/clinics-without-kit",
           summary="The caller's clinics that hold filler and no emergency kit with hyaluronidase: not ready "
                   "(?clinic_id=)",
           permission=Permission.KIT_CHECK, query=ClinicsWithoutKitQuery, response=ClinicsWithoutKitOut,
           errors=(404, 422))
def clinics_without_kit(query: ClinicsWithoutKitQuery) -> ClinicsWithoutKitOut:
    # Beside the readiness list, not in it: the contract's answer there is a top-level list of kits.
    clinics = kits.clinics_without_a_kit(db.session, scope=current_scope().narrowed_to(db.session, query.clinic_id))
    return ClinicsWithoutKitOut(clinics_without_kit=[ClinicWithoutKitOut.of(clinic) for clinic in clinics])


@operation("POST", "/kits/<int:kit_id>/checks", summary="Record a check of a kit", permission=Permission.KIT_CHECK,
           body=KitCheckIn, response=KitCheckOut, status=201, idempotent=True, errors=(404,))
def create_kit_check(kit_id: int, body: KitCheckIn) -> KitCheckOut:
    check = kits.record_check(db.session, actor=current_user(), scope=current_scope(), kit_id=kit_id,
                              seal_intact=body.seal_intact, notes=body.notes, now=utcnow())
    return KitCheckOut.of(check)


@operation("GET", "/kits", summary="The caller's kits (?clinic_id=)", permission=Permission.KIT_CHECK,
           query=ClinicQuery, response=KitList, errors=(404, 422))
def list_kits(query: ClinicQuery) -> KitList:
    scope = current_scope().narrowed_to(db.session, query.clinic_id)
    return KitList(kits=[KitOut.of(kit) for kit in kits.list_kits(db.session, scope)])


@operation("GET", "/kits/<int:kit_id>", summary="One kit with its readiness and contents",
           permission=Permission.KIT_CHECK, response=KitDetailOut, errors=(404,))
def get_kit(kit_id: int) -> KitDetailOut:
    return _detail(kit_id)


def _detail(kit_id: int) -> KitDetailOut:
    kit = kits.get_kit(db.session, kit_id, current_scope())
    (state,) = kits.readiness(db.session, scope=current_scope(), now=utcnow(), kit_ids=[kit.id])
    return KitDetailOut(
        **KitOut.of(kit).model_dump(), status=state.status.value, reasons=[r.text for r in state.reasons],
        details=[ReasonOut(**r.as_dict()) for r in state.reasons], last_check_at=state.last_check_at,
        checklist=[RequirementLineOut(**line._asdict()) for line in state.lines],
        contents=[ContainerOut.of(c) for c in kits.contents(db.session, kit)],
    )


@operation("POST", "/kits", summary="Create a kit at a kit location", permission=Permission.CATALOG,
           body=KitIn, response=KitOut, status=201, errors=(404, 409))
def create_kit(body: KitIn) -> KitOut:
    kit = kits.create_kit(db.session, scope=current_scope(), template_id=body.template_id, name=body.name,
                          location_id=body.location_id, clinic_id=body.clinic_id)
    return KitOut.of(kit)


@operation("POST", "/kits/<int:kit_id>/contents", summary="Move a container into a kit (restock)",
           permission=Permission.KIT_CHECK, body=KitContentIn, response=ContainerOut, status=201, idempotent=True,
           errors=(404, 409))
def add_kit_content(kit_id: int, body: KitContentIn) -> ContainerOut:
    container = kits.add_to_kit(db.session, actor=current_user(), scope=current_scope(), kit_id=kit_id,
                                container_ref=body.container, now=utcnow())
    return ContainerOut.of(container)


@operation("POST", "/kits/<int:kit_id>/contents/<container_ref>/remove",
           summary="Move a container out of a kit to another location", permission=Permission.KIT_CHECK,
           body=KitRemoveIn, response=ContainerOut, idempotent=True, errors=(404, 409))
def remove_kit_content(kit_id: int, container_ref: str, body: KitRemoveIn) -> ContainerOut:
    container = kits.remove_from_kit(db.session, actor=current_user(), scope=current_scope(), kit_id=kit_id,
                                     container_ref=container_ref, to_location_id=body.to_location_id, now=utcnow())
    return ContainerOut.of(container)


@operation("GET", "/kit-templates", summary="Kit templates", permission=Permission.CATALOG,
           response=KitTemplateList)
def list_kit_templates() -> KitTemplateList:
    return KitTemplateList(templates=[KitTemplateOut.of(t) for t in kits.list_templates(db.session)])


@operation("POST", "/kit-templates", summary="Create a kit template", permission=Permission.CATALOG,
           body=KitTemplateIn, response=KitTemplateOut, status=201, errors=(404, 409))
def create_kit_template(body: KitTemplateIn) -> KitTemplateOut:
    template = kits.create_template(
        db.session, name=body.name, description=body.description, check_interval_days=body.check_interval_days,
        warning_days=body.warning_days,
        requirements=[
            kits.RequirementSpec(
                label=r.label, min_quantity=Decimal(r.min_quantity), product_id=r.product_id,
                product_kind=ProductKind(r.product_kind) if r.product_kind else None,
                min_days_to_expiry=r.min_days_to_expiry,
            )
            for r in body.requirements
        ],
    )
    return KitTemplateOut.of(template)


@operation("GET", "/stock/expiring", summary="Usable stock expiring within ?days= (default 30), by location",
           permission=Permission.CART, query=ExpiringQuery, response=ExpiringOut, errors=(422,))
def expiring_stock(query: ExpiringQuery) -> ExpiringOut:
    places = kits.expiring_stock(db.session, scope=current_scope(), now=utcnow(), days=query.days)
    return ExpiringOut(days=query.days, locations=[ExpiringLocationOut.of(p) for p in places])
