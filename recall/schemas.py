"""Request and response models of the recall API: traces, quarantine and release, recall cases.

Names start with Trace or Recall so they never collide with other models in the
OpenAPI document's components.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic reads TypedDicts from typing_extensions before Python 3.12

from inventory.blueprints.api.schemas import Id, LotOut, Model, Qty, PlainText
from inventory.models.base import plain_quantity
from recall import queries, services
from recall.models import RecallCase, RecallContainer

Reason = Annotated[str, PlainText(services.MAX_REASON, multiline=True)]
Note = Annotated[str, PlainText(services.MAX_NOTE, min_length=0, multiline=True)]


# --- traces -------------------------------------------------------------------------------


class TracePatientOut(Model):
    id: int
    clinic_id: int
    external_ref: str
    name: str
    date_of_birth: dt.date | None

    @classmethod
    def of(cls, p: queries.PatientRef) -> TracePatientOut:
        return cls(id=p.id, clinic_id=p.clinic_id, external_ref=p.external_ref, name=p.name,
                   date_of_birth=p.date_of_birth)


class TraceTransferOut(Model):
    """The transfer a container in transit travels with (sent, not yet received or recorded back)."""

    id: int
    status: str = Field(description="in_transit: on its way to to_clinic; refused: on its way back to from_clinic")
    from_clinic_id: int
    from_clinic_code: str
    to_clinic_id: int
    to_clinic_code: str
    to_location: str = Field(description="where the sender asked for it to go, at to_clinic")
    sent_at: dt.datetime = Field(description="UTC")
    sent_local_at: dt.datetime = Field(description="the same moment in the sending clinic's time zone")
    quantity: Qty = Field(description="what travels, in the product's base unit (remaining is 0 until it arrives)")

    @classmethod
    def of(cls, t: queries.TransitRef) -> TraceTransferOut:
        return cls(id=t.transfer_id, status=t.status, from_clinic_id=t.from_clinic.id,
                   from_clinic_code=t.from_clinic.code, to_clinic_id=t.to_clinic.id, to_clinic_code=t.to_clinic.code,
                   to_location=t.to_location, sent_at=t.sent_at, sent_local_at=t.sent_local_at, quantity=t.quantity)


IN_TRANSIT = ("on its way between clinics (state in_transit): clinic and location stay the source's until it "
              "arrives, so look at transfer")
LOST_IN_TRANSIT = ("never arrived where it was sent (declared missing on receipt, or with the whole box lost): "
                   "written off (state discarded) at the clinic and location it left from, which it still names; it "
                   "is on no shelf there")
LOST_TRANSFER = "when lost_in_transit: the transfer it was lost on; null otherwise"
RETURNED = ("for an empty container sent back to its supplier (a receipt's return, or a recall's), what the pages "
            "say of it: 'returned to Allergan Aesthetics (direct): wrong product'; null otherwise (empty then means "
            "used up)")


class TraceContainerOut(Model):
    id: int
    label_code: str
    clinic_id: int
    clinic_code: str
    location_id: int
    location: str
    state: Literal["sealed", "in_use", "in_transit", "empty", "discarded"]
    remaining: Qty
    base_unit: str
    patient_id: int | None = Field(description="the patient a single-patient container was opened for")
    in_transit: bool = Field(default=False, description=IN_TRANSIT)
    transfer: TraceTransferOut | None = Field(default=None, description="the transfer it travels with, when in transit")
    lost_in_transit: bool = Field(default=False, description=LOST_IN_TRANSIT)
    lost_in_transit_transfer_id: int | None = Field(default=None, description=LOST_TRANSFER)
    returned: str | None = Field(default=None, description=RETURNED)

    @classmethod
    def of(cls, c: queries.ContainerLine) -> TraceContainerOut:
        return cls(id=c.id, label_code=c.label_code, clinic_id=c.clinic.id, clinic_code=c.clinic.code,
                   location_id=c.location_id, location=c.location, state=c.state.value, remaining=c.remaining,
                   base_unit=c.base_unit, patient_id=c.patient_id, in_transit=c.is_in_transit,
                   transfer=TraceTransferOut.of(c.transit) if c.transit else None,
                   lost_in_transit=c.lost_in_transit is not None, lost_in_transit_transfer_id=c.lost_with_transfer,
                   returned=c.returned)


class TraceDoseOut(Model):
    """One draw. A reversed draw was corrected: it is listed, but it is not a dose given."""

    treatment_id: int
    draw_id: int
    patient: TracePatientOut
    clinic_id: int
    clinic_code: str
    at: dt.datetime = Field(description="UTC")
    local_at: dt.datetime = Field(description="the same moment in the clinic's time zone")
    area: str
    area_detail: str | None
    quantity: Qty = Field(description="in the product's base unit (see unit)")
    unit: str
    quantity_ml: Qty | None
    injector_id: int
    injector: str
    container_id: int
    label_code: str
    lot_id: int
    lot_number: str
    product_id: int
    product: str
    reason: str | None
    reversed: bool

    @classmethod
    def of(cls, d: queries.DoseLine) -> TraceDoseOut:
        return cls(
            treatment_id=d.treatment_id, draw_id=d.draw_id, patient=TracePatientOut.of(d.patient),
            clinic_id=d.clinic.id, clinic_code=d.clinic.code, at=d.at, local_at=d.local_at, area=d.area,
            area_detail=d.area_detail, quantity=d.quantity, unit=d.base_unit, quantity_ml=d.quantity_ml,
            injector_id=d.injector_id, injector=d.injector, container_id=d.container_id, label_code=d.label_code,
            lot_id=d.lot_id, lot_number=d.lot_number, product_id=d.product_id, product=d.product, reason=d.reason,
            reversed=d.is_reversed,
        )


class TraceLotOut(Model):
    lot: LotOut
    containers: list[TraceContainerOut]
    treatments: list[TraceDoseOut] = Field(description="every draw from the lot, reversed ones marked")
    patients: list[TracePatientOut] = Field(description="who received the lot: a draw that was not reversed")

    @classmethod
    def of(cls, t: queries.LotTrace) -> TraceLotOut:
        return cls(lot=LotOut.of(t.lot), containers=[TraceContainerOut.of(c) for c in t.containers],
                   treatments=[TraceDoseOut.of(d) for d in t.doses], patients=[TracePatientOut.of(p) for p in t.patients])


class TraceWarningOut(Model):
    code: Literal["expiry_differs"] = Field(
        description="expiry_differs: the scanned code's expiry (GS1 AI 17) is not the lot's expiry on file, which "
                    "receiving refuses as a counterfeit sign (lot_expiry_conflict); the trace is answered all the same")
    message: str
    lot_id: int
    expiry_given: dt.date = Field(description="the expiry the code prints (a day 00 read as the month's last day)")
    expiry_on_file: dt.date
    expiry_raw: str | None = Field(description="the expiry as printed (YYMMDD)")

    @classmethod
    def of(cls, w: queries.TraceWarning) -> TraceWarningOut:
        return cls(code=w.code, message=w.message, lot_id=w.lot_id, expiry_given=w.expiry_given,  # type: ignore[arg-type]
                   expiry_on_file=w.expiry_on_file, expiry_raw=w.expiry_raw)


class TraceSearchOut(Model):
    query: str
    lots: list[TraceLotOut] = Field(description="one per product when two products share a lot number")
    warnings: list[TraceWarningOut] = Field(
        default_factory=list, description="what a scanned code says that contradicts the lot it names; empty for a "
                                          "typed lot number, a Vialog label, or a code that agrees with its lot")


# A lot trace's answer as plain data: the JSON of TraceLotOut and TraceSearchOut, byte for byte
# (tests/api/test_recall_api.py compares them), without validating a model per dose and patient:
# at chain scale a lot reaches ~2,000 patients, and building their models cost more than the query.
# Quantities arrive formatted (plain_quantity, once per distinct value: doses repeat a few).


class _PatientData(TypedDict):
    id: int
    clinic_id: int
    external_ref: str
    name: str
    date_of_birth: dt.date | None


class _TransferData(TypedDict):
    id: int
    status: str
    from_clinic_id: int
    from_clinic_code: str
    to_clinic_id: int
    to_clinic_code: str
    to_location: str
    sent_at: dt.datetime
    sent_local_at: dt.datetime
    quantity: str


class _ContainerData(TypedDict):
    id: int
    label_code: str
    clinic_id: int
    clinic_code: str
    location_id: int
    location: str
    state: str
    remaining: str
    base_unit: str
    patient_id: int | None
    in_transit: bool
    transfer: _TransferData | None
    lost_in_transit: bool
    lost_in_transit_transfer_id: int | None
    returned: str | None


class _DoseData(TypedDict):
    treatment_id: int
    draw_id: int
    patient: _PatientData
    clinic_id: int
    clinic_code: str
    at: dt.datetime
    local_at: dt.datetime
    area: str
    area_detail: str | None
    quantity: str
    unit: str
    quantity_ml: str | None
    injector_id: int
    injector: str
    container_id: int
    label_code: str
    lot_id: int
    lot_number: str
    product_id: int
    product: str
    reason: str | None
    reversed: bool


class _LotTraceData(TypedDict):
    lot: LotOut
    containers: list[_ContainerData]
    treatments: list[_DoseData]
    patients: list[_PatientData]


class _TraceSearchData(TypedDict):
    query: str
    lots: list[_LotTraceData]
    warnings: list[TraceWarningOut]


_LOT_TRACE_JSON = TypeAdapter(_LotTraceData)
_TRACE_SEARCH_JSON = TypeAdapter(_TraceSearchData)


def lot_trace_json(trace: queries.LotTrace) -> bytes:
    """``TraceLotOut.of(trace).model_dump_json()``, built from plain data."""
    return _LOT_TRACE_JSON.dump_json(_lot_trace_data(trace))


def trace_search_json(query: str, traces: list[queries.LotTrace],
                      warnings: Sequence[queries.TraceWarning] = ()) -> bytes:
    """``TraceSearchOut(query=..., lots=[TraceLotOut.of(t) ...], warnings=[...]).model_dump_json()``, built from plain
    data."""
    return _TRACE_SEARCH_JSON.dump_json({"query": query, "lots": [_lot_trace_data(t) for t in traces],
                                         "warnings": [TraceWarningOut.of(w) for w in warnings]})


def _lot_trace_data(t: queries.LotTrace) -> _LotTraceData:
    patients: dict[int, _PatientData] = {}  # one dict per patient, shared by their doses and the list
    quantities: dict[Decimal | None, str | None] = {None: None}
    zones: dict[str, ZoneInfo] = {}
    doses: list[_DoseData] = []
    for d in t.doses:
        p, clinic = d.patient, d.clinic
        patient = patients.get(p.id)
        if patient is None:
            patient = patients[p.id] = _patient_data(p)
        zone = zones.get(clinic.timezone)
        if zone is None:
            zone = zones[clinic.timezone] = ZoneInfo(clinic.timezone)
        quantity = quantities.get(d.quantity)
        if quantity is None:
            quantity = quantities[d.quantity] = plain_quantity(d.quantity)
        ml = quantities.get(d.quantity_ml)
        if ml is None and d.quantity_ml is not None:
            ml = quantities[d.quantity_ml] = plain_quantity(d.quantity_ml)
        doses.append({
            "treatment_id": d.treatment_id, "draw_id": d.draw_id, "patient": patient, "clinic_id": clinic.id,
            "clinic_code": clinic.code, "at": d.at, "local_at": d.at.astimezone(zone), "area": d.area,
            "area_detail": d.area_detail, "quantity": quantity, "unit": d.base_unit, "quantity_ml": ml,
            "injector_id": d.injector_id, "injector": d.injector, "container_id": d.container_id,
            "label_code": d.label_code, "lot_id": d.lot_id, "lot_number": d.lot_number,
            "product_id": d.product_id, "product": d.product, "reason": d.reason, "reversed": d.is_reversed,
        })
    return {
        "lot": LotOut.of(t.lot),
        "containers": [
            {"id": c.id, "label_code": c.label_code, "clinic_id": c.clinic.id, "clinic_code": c.clinic.code,
             "location_id": c.location_id, "location": c.location, "state": c.state.value,
             "remaining": plain_quantity(c.remaining), "base_unit": c.base_unit, "patient_id": c.patient_id,
             "in_transit": c.is_in_transit, "transfer": _transfer_data(c.transit) if c.transit else None,
             "lost_in_transit": c.lost_in_transit is not None, "lost_in_transit_transfer_id": c.lost_with_transfer,
             "returned": c.returned}
            for c in t.containers
        ],
        "treatments": doses,
        "patients": [patients.get(p.id) or _patient_data(p) for p in t.patients],
    }


def _transfer_data(t: queries.TransitRef) -> _TransferData:
    return {"id": t.transfer_id, "status": t.status, "from_clinic_id": t.from_clinic.id,
            "from_clinic_code": t.from_clinic.code, "to_clinic_id": t.to_clinic.id, "to_clinic_code": t.to_clinic.code,
            "to_location": t.to_location, "sent_at": t.sent_at, "sent_local_at": t.sent_local_at,
            "quantity": plain_quantity(t.quantity)}


def _patient_data(p: queries.PatientRef) -> _PatientData:
    return {"id": p.id, "clinic_id": p.clinic_id, "external_ref": p.external_ref, "name": p.name,
            "date_of_birth": p.date_of_birth}


class TraceQuery(Model):
    lot: Annotated[str, PlainText(queries.MAX_QUERY_LENGTH)]


class TraceClinicOut(Model):
    id: int
    code: str
    name: str
    timezone: str


class TracePatientLotOut(Model):
    lot: LotOut
    received: bool = Field(description="false when every draw of this lot was reversed")
    draws: list[TraceDoseOut]


class TracePatientLotsOut(Model):
    patient: TracePatientOut
    clinic: TraceClinicOut
    lots: list[TracePatientLotOut]

    @classmethod
    def of(cls, t: queries.PatientTrace) -> TracePatientLotsOut:
        c = t.clinic
        return cls(
            patient=TracePatientOut.of(t.patient), clinic=TraceClinicOut(id=c.id, code=c.code, name=c.name,
                                                                          timezone=c.timezone),
            lots=[TracePatientLotOut(lot=LotOut.of(pl.lot), received=pl.received,
                                     draws=[TraceDoseOut.of(d) for d in pl.doses]) for pl in t.lots],
        )


# --- quarantine and release ------------------------------------------------------------------


class LotStatusIn(Model):
    reason: Reason


# --- recall cases ------------------------------------------------------------------------------


class RecallIn(Model):
    lot_ids: Annotated[list[Id], Field(min_length=1, max_length=services.MAX_LOTS_PER_CASE)]
    reason: Reason
    recall_class: Literal["I", "II", "III"]
    source: Literal["manufacturer", "regulator", "internal"]


class RecallCaseIn(Model):
    """What a PATCH of a case may change: its status, to closed (the rule: ``services.update_case``)."""

    status: Literal["open", "closed"]


class RecallPatientIn(Model):
    status: Literal["pending", "notified", "unreachable", "not_required"] = Field(
        description="not_required in a Class III case, or in a Class I or II case for a patient whose every dose "
                    "from the case's lots was reversed (the patient received none of them)"
    )
    method: Literal["phone", "email", "letter", "in_person"] | None = Field(
        default=None, description="required when status is notified"
    )
    note: Note | None = None


class RecallContainerIn(Model):
    status: Literal["returned", "destroyed"]
    note: Note | None = None


class RecallContainersIn(Model):
    """Many containers of one case marked at once: all of them, or none on a refusal."""

    container_ids: list[Id] = Field(min_length=1, max_length=500)
    status: Literal["returned", "destroyed"]
    note: Note | None = None


class ContactOut(Model):
    phone: str | None
    email: str | None
    address: str | None


class WidenOut(Model):
    widened: int = Field(description="patient lines that were not required and are pending now")


class RecallEarlierNotificationOut(Model):
    """A notification of the patient recorded on an earlier case naming some of the same lots."""

    case_id: int
    notified_at: dt.datetime = Field(description="UTC: doses given after it were not covered by it")
    notified_by: str | None
    method: Literal["phone", "email", "letter", "in_person"]
    lot_ids: list[int] = Field(description="the lots that case named among this case's")

    @classmethod
    def of(cls, n: services.EarlierNotice) -> RecallEarlierNotificationOut:
        return cls(case_id=n.case_id, notified_at=n.at, notified_by=n.by, method=n.method.value,
                   lot_ids=list(n.lot_ids))


class RecallPatientOut(Model):
    patient: TracePatientOut
    clinic_id: int
    status: Literal["pending", "notified", "unreachable", "not_required"]
    method: str | None
    note: str | None
    updated_by: str | None
    updated_at: dt.datetime | None
    contact: ContactOut = Field(description="the patient's phone, email and address (PATCH /patients/<id>)")
    draws: list[TraceDoseOut] = Field(default_factory=list, description="the doses from the recalled lots")
    received_none: bool = Field(
        default=False, description="every draw listed from the case's lots was reversed: the patient received none "
                                   "of them, and not_required is accepted whatever the class")
    earlier_notifications: list[RecallEarlierNotificationOut] = Field(
        default_factory=list, description="the patient notified on earlier cases naming some of these lots, oldest "
                                          "first")
    carried_over: bool = Field(
        default=False, description="notified because an earlier case told her about every dose she had from these "
                                   "lots (carried_from): nothing to redo; false once the line is changed on this case")
    carried_from: RecallEarlierNotificationOut | None = Field(
        default=None, description="the earlier notification the status, method, updated_by and updated_at come from")

    @classmethod
    def of(cls, item: services.PatientLine) -> RecallPatientOut:
        line, p, doses = item.line, item.line.patient, item.doses
        return cls(
            patient=TracePatientOut.of(item.patient), clinic_id=line.clinic_id, status=line.status.value,
            method=line.method.value if line.method else None, note=item.note,
            updated_by=line.updated_by.label if line.updated_by else None, updated_at=line.updated_at,
            contact=ContactOut(phone=p.phone, email=p.email, address=p.address),
            draws=[TraceDoseOut.of(d) for d in doses],
            received_none=services.received_none(doses),
            earlier_notifications=[RecallEarlierNotificationOut.of(n) for n in item.earlier],
            carried_over=item.carried_from is not None,
            carried_from=RecallEarlierNotificationOut.of(item.carried_from) if item.carried_from else None,
        )


class RecallContainerOut(Model):
    container_id: int
    label_code: str
    clinic_id: int
    clinic_code: str
    location_id: int
    location: str
    lot_id: int
    state: Literal["sealed", "in_use", "in_transit", "empty", "discarded"]
    remaining: Qty
    base_unit: str
    status: Literal["open", "returned", "destroyed"]
    note: str | None
    updated_by: str | None
    updated_at: dt.datetime | None
    in_transit: bool = Field(default=False, description=IN_TRANSIT)
    transfer: TraceTransferOut | None = Field(default=None, description="the transfer it travels with, when in transit")
    lost_in_transit: bool = Field(default=False, description=LOST_IN_TRANSIT)
    lost_in_transit_transfer_id: int | None = Field(default=None, description=LOST_TRANSFER)
    returned: str | None = Field(default=None, description=RETURNED)

    @classmethod
    def of(cls, line: RecallContainer, c: queries.ContainerLine) -> RecallContainerOut:
        return cls(
            container_id=c.id, label_code=c.label_code, clinic_id=c.clinic.id, clinic_code=c.clinic.code,
            location_id=c.location_id, location=c.location, lot_id=c.lot_id,
            state=c.state.value, remaining=c.remaining, base_unit=c.base_unit, status=line.status.value,
            note=line.note, updated_by=line.updated_by.label if line.updated_by else None,
            updated_at=line.updated_at, in_transit=c.is_in_transit,
            transfer=TraceTransferOut.of(c.transit) if c.transit else None,
            lost_in_transit=c.lost_in_transit is not None, lost_in_transit_transfer_id=c.lost_with_transfer,
            returned=c.returned,
        )


class RecallProgressOut(Model):
    patients_done: int = Field(description="notified, unreachable or not required")
    patients_total: int
    patients_unreachable: int = Field(default=0, description="of patients_done, those never told: unreachable")
    patients_not_required: int = Field(default=0, description="of patients_done, those a Class III case need not tell")
    containers_done: int = Field(description="returned or destroyed")
    containers_total: int


class RecallSummaryOut(Model):
    id: int
    status: Literal["open", "closed"]
    recall_class: Literal["I", "II", "III"]
    source: str
    reason: str
    opened_at: dt.datetime
    opened_by: str
    closed_at: dt.datetime | None
    lots: list[LotOut]
    progress: RecallProgressOut = Field(description="over the lines of the caller's clinics")

    @classmethod
    def of(cls, s: services.CaseSummary) -> RecallSummaryOut:
        return cls(**_case_fields(s.case), progress=RecallProgressOut(
            patients_done=s.patients.done, patients_total=s.patients.total,
            patients_unreachable=s.patients.unreachable, patients_not_required=s.patients.not_required,
            containers_done=s.containers.done, containers_total=s.containers.total))


class RecallUncoveredLotOut(Model):
    """A recalled lot with stock that no open case lists (found after its cases closed)."""

    lot: LotOut
    containers: list[TraceContainerOut] = Field(description="in stock in the caller's clinics; none may be used")
    case_ids: list[int] = Field(description="the lot's recall cases, all closed, newest first")

    @classmethod
    def of(cls, u: services.UncoveredLot) -> RecallUncoveredLotOut:
        return cls(lot=LotOut.of(u.lot), containers=[TraceContainerOut.of(c) for c in u.containers],
                   case_ids=[case.id for case in u.cases])


UNCOVERED = ("recalled stock that no open case asks anyone to return or destroy: open a new case on the lot "
             "(POST /recalls) to take it back")


class RecallList(Model):
    recalls: list[RecallSummaryOut]
    uncovered_stock: list[RecallUncoveredLotOut] = Field(default_factory=list, description=UNCOVERED)


class RecallCaseOut(Model):
    id: int
    status: Literal["open", "closed"]
    recall_class: Literal["I", "II", "III"]
    source: str
    reason: str
    opened_at: dt.datetime
    opened_by: str
    closed_at: dt.datetime | None
    closed_by: str | None
    lots: list[LotOut]
    progress: RecallProgressOut = Field(description="over the lines of the caller's clinics")
    open_elsewhere: int = Field(description="open lines at clinics the caller does not work at")
    patients: list[RecallPatientOut]
    containers: list[RecallContainerOut]
    uncovered_stock: list[RecallUncoveredLotOut] = Field(
        default_factory=list, description=f"a closed case's lots only: {UNCOVERED}")

    @classmethod
    def of(cls, view: services.CaseView) -> RecallCaseOut:
        p, c = view.patient_progress, view.container_progress
        return cls(
            **_case_fields(view.case), closed_by=view.case.closed_by.label if view.case.closed_by else None,
            progress=RecallProgressOut(patients_done=p.done, patients_total=p.total,
                                       patients_unreachable=p.unreachable, patients_not_required=p.not_required,
                                       containers_done=c.done, containers_total=c.total),
            open_elsewhere=view.open_elsewhere,
            patients=[RecallPatientOut.of(line) for line in view.patients],
            containers=[RecallContainerOut.of(line.line, line.container) for line in view.containers],
            uncovered_stock=[RecallUncoveredLotOut.of(u) for u in view.uncovered],
        )


def _case_fields(case: RecallCase) -> dict:
    return dict(
        id=case.id, status=case.status.value, recall_class=case.recall_class.value, source=case.source.value,
        reason=case.reason, opened_at=case.opened_at, opened_by=case.opened_by.label, closed_at=case.closed_at,
        lots=[LotOut.of(rl.lot) for rl in case.lots],
    )
