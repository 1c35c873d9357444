"""Adverse events (record, list, correct), their regulator report as CSV, and the per-lot signals."""

from __future__ import annotations

from flask import Response

from inventory.adverse_events import service as adverse_events
from inventory.adverse_events.schemas import (
    AdverseEventIn,
    AdverseEventList,
    AdverseEventOut,
    AdverseEventPatch,
    AdverseEventQuery,
    LotSignalList,
    LotSignalOut,
    RescueLinkIn,
)
from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services.permissions import Permission


@operation("POST", "/adverse-events", summary="Record an adverse event against a treatment, linked to its lots",
           permission=Permission.CART, body=AdverseEventIn, response=AdverseEventOut, status=201, idempotent=True,
           errors=(404, 422))
def create_adverse_event(body: AdverseEventIn) -> AdverseEventOut:
    event = adverse_events.record(
        db.session, actor=current_user(), scope=current_scope(), treatment_id=body.treatment_id, kind=body.kind,
        onset_date=body.onset_date, severity=body.severity, outcome=body.outcome, description=body.description,
        follow_up_notes=body.follow_up_notes, patient_sex=body.patient_sex, container_ids=body.container_ids,
        now=utcnow(),
    )
    return AdverseEventOut.of(adverse_events.get_event(db.session, viewer=current_user(), scope=current_scope(),
                                                       event_id=event.id))


@operation("GET", "/adverse-events", summary="Adverse events the caller may read, by lot or treatment",
           permission=Permission.CART, query=AdverseEventQuery, response=AdverseEventList, errors=(422,))
def list_adverse_events(query: AdverseEventQuery) -> AdverseEventList:
    events = adverse_events.list_events(db.session, viewer=current_user(), scope=current_scope(),
                                        lot_id=query.lot_id, treatment_id=query.treatment_id)
    return AdverseEventList(adverse_events=[AdverseEventOut.of(e) for e in events])


@operation("GET", "/adverse-events/<int:event_id>", summary="One adverse event with its lots and rescue",
           permission=Permission.CART, response=AdverseEventOut, errors=(404,))
def get_adverse_event(event_id: int) -> AdverseEventOut:
    return AdverseEventOut.of(adverse_events.get_event(db.session, viewer=current_user(), scope=current_scope(),
                                                       event_id=event_id))


@operation("PATCH", "/adverse-events/<int:event_id>", summary="Update an adverse event's outcome, follow-up, ...",
           permission=Permission.CART, body=AdverseEventPatch, response=AdverseEventOut, errors=(404, 422))
def update_adverse_event(event_id: int, body: AdverseEventPatch) -> AdverseEventOut:
    event = adverse_events.update(db.session, actor=current_user(), scope=current_scope(), event_id=event_id,
                                  changes=body.model_dump(exclude_unset=True), now=utcnow())
    return AdverseEventOut.of(event)


@operation("POST", "/adverse-events/<int:event_id>/rescues",
           summary="Link a hyaluronidase dose already given (an emergency drawn first) as the event's rescue",
           permission=Permission.CART, body=RescueLinkIn, response=AdverseEventOut, idempotent=True,
           errors=(404, 422))
def link_adverse_event_rescue(event_id: int, body: RescueLinkIn) -> AdverseEventOut:
    return AdverseEventOut.of(adverse_events.link_rescue_afterwards(
        db.session, actor=current_user(), scope=current_scope(), event_id=event_id, draw_id=body.draw_id,
        now=utcnow(),
    ))


@operation("GET", "/adverse-events/<int:event_id>/report.csv",
           summary="The MedWatch / Yellow Card fields of an adverse event, as CSV", permission=Permission.CART,
           errors=(404,), media_type="text/csv")
def adverse_event_report_csv(event_id: int) -> Response:
    event = adverse_events.get_event(db.session, viewer=current_user(), scope=current_scope(), event_id=event_id)
    report = adverse_events.regulator_report(db.session, event, now=utcnow())
    adverse_events.record_export(db.session, event, viewer=current_user(), now=utcnow(), what="report.csv")
    return Response(adverse_events.report_csv(report), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="adverse-event-{event.id}.csv"'})


@operation("GET", "/reports/lot-signals", summary="Per lot: patients reached, adverse events, rate against its product",
           permission=Permission.RECALL, response=LotSignalList)
def lot_signals() -> LotSignalList:
    return LotSignalList(lots=[LotSignalOut.of(s) for s in adverse_events.lot_signals(db.session,
                                                                                       scope=current_scope())])
