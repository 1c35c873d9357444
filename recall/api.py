"""The recall API (API.md): traces, quarantine and release, recall cases and their exports.

Registered on the API blueprint by importing this module (inventory/blueprints/api).
Every operation needs Permission.RECALL (safety lead, admin); patient lines are
limited to the caller's clinics; every view or export of patient data is recorded.
"""

from __future__ import annotations

from flask import Response

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import LotOut
from inventory.extensions import db
from inventory.models import Container, utcnow
from inventory.services.permissions import Permission
from recall import exports, queries, services
from recall.schemas import (
    LotStatusIn,
    RecallCaseIn,
    RecallCaseOut,
    RecallContainerIn,
    RecallContainerOut,
    RecallContainersIn,
    RecallIn,
    RecallList,
    RecallPatientIn,
    RecallPatientOut,
    RecallSummaryOut,
    RecallUncoveredLotOut,
    TraceLotOut,
    TracePatientLotsOut,
    TraceQuery,
    TraceSearchOut,
    WidenOut,
    lot_trace_json,
    trace_search_json,
)

RECALL = Permission.RECALL


# --- traces ----------------------------------------------------------------------------------
# The lot traces answer with TraceLotOut's JSON built from plain data (recall/schemas.py): a lot can
# reach thousands of patients, and one validated model per dose cost more than the whole query.


@operation("GET", "/lots/<int:lot_id>/trace", summary="A lot's containers, draws and patients",
           permission=RECALL, response=TraceLotOut, errors=(404,))
def trace_lot(lot_id: int) -> Response:
    lots = queries.lots_by_ids(db.session, [lot_id], current_scope())
    (trace,) = services.trace_lots(db.session, viewer=current_user(), scope=current_scope(), lots=lots, now=utcnow())
    return Response(lot_trace_json(trace), mimetype="application/json")


@operation("GET", "/trace", summary="Trace the lots a typed lot number or a scanned code names",
           permission=RECALL, query=TraceQuery, response=TraceSearchOut, errors=(404, 422))
def trace_search(query: TraceQuery) -> Response:
    found = queries.find_traced(db.session, query.lot, current_scope())
    traces = services.trace_lots(db.session, viewer=current_user(), scope=current_scope(), lots=found.lots,
                                 now=utcnow(), query=query.lot)
    return Response(trace_search_json(query.lot, traces, found.warnings), mimetype="application/json")


@operation("GET", "/patients/<int:patient_id>/lots", summary="Every lot a patient received, with the draws",
           permission=RECALL, response=TracePatientLotsOut, errors=(404,))
def patient_lots(patient_id: int) -> TracePatientLotsOut:
    trace = services.trace_patient(db.session, viewer=current_user(), scope=current_scope(), patient_id=patient_id,
                                   now=utcnow())
    return TracePatientLotsOut.of(trace)


# --- quarantine and release ----------------------------------------------------------------------


@operation("POST", "/lots/<int:lot_id>/quarantine", summary="Quarantine a lot at every location",
           permission=RECALL, body=LotStatusIn, response=LotOut, idempotent=True, errors=(404, 409))
def quarantine_lot(lot_id: int, body: LotStatusIn) -> LotOut:
    return LotOut.of(services.quarantine(db.session, actor=current_user(), lot_id=lot_id, reason=body.reason,
                                         now=utcnow(), scope=current_scope()))


@operation("POST", "/lots/<int:lot_id>/release",
           summary="Release a quarantined lot at every clinic (never a recalled one; a clinic-level safety lead only "
           "a lot no other clinic holds)",
           permission=RECALL, body=LotStatusIn, response=LotOut, idempotent=True, errors=(403, 404, 409))
def release_lot(lot_id: int, body: LotStatusIn) -> LotOut:
    return LotOut.of(services.release(db.session, actor=current_user(), lot_id=lot_id, reason=body.reason,
                                      now=utcnow(), scope=current_scope()))


# --- recall cases -------------------------------------------------------------------------------


@operation("POST", "/recalls", summary="Open a recall case: the lots become recalled", permission=RECALL,
           body=RecallIn, response=RecallCaseOut, status=201, idempotent=True, errors=(404, 409))
def open_recall(body: RecallIn) -> RecallCaseOut:
    now = utcnow()
    case = services.open_recall(db.session, actor=current_user(), lot_ids=body.lot_ids, reason=body.reason,
                                recall_class=body.recall_class, source=body.source, now=now,
                                scope=current_scope())
    return RecallCaseOut.of(services.view_case(db.session, viewer=current_user(), scope=current_scope(),
                                               case_id=case.id, now=now))


@operation("GET", "/recalls", summary="Every recall case, open ones first, with progress, and recalled stock no "
           "open case covers", permission=RECALL,
           response=RecallList)
def list_recalls() -> RecallList:
    scope = current_scope()
    return RecallList(recalls=[RecallSummaryOut.of(s) for s in services.list_cases(db.session, scope)],
                      uncovered_stock=[RecallUncoveredLotOut.of(u)
                                       for u in services.uncovered_stock(db.session, scope)])


@operation("GET", "/recalls/<int:case_id>", summary="A recall case with its patient and container lists",
           permission=RECALL, response=RecallCaseOut, errors=(404,))
def get_recall(case_id: int) -> RecallCaseOut:
    return RecallCaseOut.of(services.view_case(db.session, viewer=current_user(), scope=current_scope(),
                                               case_id=case_id, now=utcnow()))


@operation("PATCH", "/recalls/<int:case_id>",
           summary="Change a case: close it (status closed) once its lists are done, as POST .../close; its lots, "
           "reason, class and source are the notice's and do not change",
           permission=RECALL, body=RecallCaseIn, response=RecallCaseOut, idempotent=True, errors=(404, 409, 422))
def update_recall(case_id: int, body: RecallCaseIn) -> RecallCaseOut:
    now = utcnow()
    services.update_case(db.session, actor=current_user(), case_id=case_id, status=body.status, now=now)
    return RecallCaseOut.of(services.view_case(db.session, viewer=current_user(), scope=current_scope(),
                                               case_id=case_id, now=now))


@operation("GET", "/recalls/<int:case_id>/patients/<int:patient_id>",
           summary="One patient's line of a case: notification status, contact details and the doses received",
           permission=RECALL, response=RecallPatientOut, errors=(404,))
def get_recall_patient(case_id: int, patient_id: int) -> RecallPatientOut:
    return RecallPatientOut.of(services.view_patient(db.session, viewer=current_user(), scope=current_scope(),
                                                     case_id=case_id, patient_id=patient_id, now=utcnow()))


@operation("PATCH", "/recalls/<int:case_id>/patients/<int:patient_id>",
           summary="Record a patient's notification: pending, notified (with method), unreachable or not required",
           permission=RECALL, body=RecallPatientIn, response=RecallPatientOut, idempotent=True, errors=(404, 409))
def update_recall_patient(case_id: int, patient_id: int, body: RecallPatientIn) -> RecallPatientOut:
    scope = current_scope()
    line = services.update_patient(db.session, actor=current_user(), scope=scope, case_id=case_id,
                                   patient_id=patient_id, status=body.status, method=body.method, note=body.note,
                                   now=utcnow())
    # The answer is the line as the case's GET shows it: the patient's doses from the case's lots, read by
    # the same statement (reversed ones marked), in the caller's clinics, and what earlier cases did.
    return RecallPatientOut.of(services.patient_line(db.session, services.get_case(db.session, case_id), line,
                                                     scope))


@operation("PATCH", "/recalls/<int:case_id>/containers/<int:container_id>",
           summary="Record that a container was returned or destroyed (it leaves stock through the ledger)",
           permission=RECALL, body=RecallContainerIn, response=RecallContainerOut, idempotent=True,
           errors=(404, 409))
def update_recall_container(case_id: int, container_id: int, body: RecallContainerIn) -> RecallContainerOut:
    scope = current_scope()
    line = services.update_container(db.session, actor=current_user(), scope=scope, case_id=case_id,
                                     container_id=container_id, status=body.status, note=body.note, now=utcnow())
    (where,) = queries.container_lines(db.session, scope, Container.id == container_id)
    return RecallContainerOut.of(line, where)


@operation("POST", "/recalls/<int:case_id>/containers",
           summary="Mark many containers of a case returned or destroyed at once (all or none)",
           permission=RECALL, body=RecallContainersIn, response=RecallCaseOut, idempotent=True, errors=(404, 409, 422))
def update_recall_containers(case_id: int, body: RecallContainersIn) -> RecallCaseOut:
    now = utcnow()
    services.update_containers(db.session, actor=current_user(), scope=current_scope(), case_id=case_id,
                               container_ids=body.container_ids, status=body.status, note=body.note, now=now)
    return RecallCaseOut.of(services.view_case(db.session, viewer=current_user(), scope=current_scope(),
                                               case_id=case_id, now=now))


@operation("POST", "/recalls/<int:case_id>/widen",
           summary="Notify every patient of a Class III case after all (not required -> pending)",
           permission=RECALL, response=WidenOut, idempotent=True, errors=(404, 409))
def widen_recall(case_id: int) -> WidenOut:
    return WidenOut(widened=services.widen(db.session, actor=current_user(), case_id=case_id, now=utcnow()))


@operation("POST", "/recalls/<int:case_id>/close", summary="Close a case whose lists are done",
           permission=RECALL, response=RecallCaseOut, idempotent=True, errors=(404, 409))
def close_recall(case_id: int) -> RecallCaseOut:
    now = utcnow()
    services.close_case(db.session, actor=current_user(), case_id=case_id, now=now)
    return RecallCaseOut.of(services.view_case(db.session, viewer=current_user(), scope=current_scope(),
                                               case_id=case_id, now=now))


# --- exports ---------------------------------------------------------------------------------------


def _export(case_id: int, which: str, fmt: str) -> Response:
    file = exports.export(db.session, viewer=current_user(), scope=current_scope(), case_id=case_id, which=which,
                          fmt=fmt, now=utcnow())
    return Response(file.content, mimetype=file.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})


@operation("GET", "/recalls/<int:case_id>/patients.xlsx", summary="The patient notification list as Excel",
           permission=RECALL, errors=(404,), media_type=exports.XLSX_MIMETYPE)
def recall_patients_xlsx(case_id: int) -> Response:
    return _export(case_id, "patients", "xlsx")


@operation("GET", "/recalls/<int:case_id>/patients.csv", summary="The patient notification list as CSV",
           permission=RECALL, errors=(404,), media_type="text/csv")
def recall_patients_csv(case_id: int) -> Response:
    return _export(case_id, "patients", "csv")


@operation("GET", "/recalls/<int:case_id>/notifications.xlsx",
           summary="The notification list with contact details, lots, dates, areas and status, as Excel",
           permission=RECALL, errors=(404,), media_type=exports.XLSX_MIMETYPE)
def recall_notifications_xlsx(case_id: int) -> Response:
    return _export(case_id, "notifications", "xlsx")


@operation("GET", "/recalls/<int:case_id>/notifications.csv",
           summary="The notification list with contact details, lots, dates, areas and status, as CSV",
           permission=RECALL, errors=(404,), media_type="text/csv")
def recall_notifications_csv(case_id: int) -> Response:
    return _export(case_id, "notifications", "csv")


@operation("GET", "/recalls/<int:case_id>/containers.xlsx", summary="The container list as Excel",
           permission=RECALL, errors=(404,), media_type=exports.XLSX_MIMETYPE)
def recall_containers_xlsx(case_id: int) -> Response:
    return _export(case_id, "containers", "xlsx")


@operation("GET", "/recalls/<int:case_id>/containers.csv", summary="The container list as CSV",
           permission=RECALL, errors=(404,), media_type="text/csv")
def recall_containers_csv(case_id: int) -> Response:
    return _export(case_id, "containers", "csv")
