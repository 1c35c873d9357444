"""Request and response models of the adverse events' API and the lot-signal report."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from inventory.adverse_events import service as adverse_events
from inventory.adverse_events.models import AdverseEvent
from inventory.blueprints.api.schemas import Day, Id, LotOut, Model, Qty

Kind = Literal["vascular_occlusion", "ptosis", "nodule", "infection", "allergic_reaction", "bruising_swelling",
               "migration", "other"]
SeverityIn = Literal["mild", "moderate", "severe", "serious"]
OutcomeIn = Literal["ongoing", "recovering", "resolved", "resolved_with_sequelae", "unknown"]
SexIn = Literal["female", "male", "other", "unknown"]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000)]


class AdverseEventIn(Model):
    treatment_id: Id
    kind: Kind
    onset_date: Day
    severity: SeverityIn
    description: Description
    outcome: OutcomeIn
    follow_up_notes: Notes | None = None
    patient_sex: SexIn | None = Field(default=None, description="for the regulator's report")
    container_ids: list[Id] | None = Field(
        default=None, max_length=200,
        description="the containers of the treatment the event is linked to; omitted: every one it drew from. "
                    "Hyaluronidase drawn as an emergency is the event's rescue, never one of these (422)",
    )


class AdverseEventPatch(Model):
    kind: Kind | None = None
    onset_date: Day | None = None
    severity: SeverityIn | None = None
    description: Description | None = None
    outcome: OutcomeIn | None = None
    follow_up_notes: Notes | None = None
    patient_sex: SexIn | None = None


class RescueLinkIn(Model):
    draw_id: Annotated[int, Field(ge=1, le=2**63 - 1)] = Field(
        description="a hyaluronidase dose the event's patient received, from its treatment on"
    )


class AdverseEventQuery(Model):
    lot_id: Id | None = None
    treatment_id: Id | None = None


class LinkedContainerOut(Model):
    id: int
    label_code: str
    product_id: int
    product_name: str
    lot_id: int
    lot_number: str
    reversed: bool = Field(description="every draw from it in the event's treatment was reversed: never given, "
                                       "so not counted as the cause (not in lots, the report or lot signals)")


class RescueOut(Model):
    draw_id: int
    container_id: int
    label_code: str
    product_name: str
    quantity: Qty
    base_unit: str
    at: dt.datetime
    injector_id: int
    injector: str
    reversed: bool = Field(description="the draw was reversed: never given, left out of the regulator's report")


class AdverseEventOut(Model):
    id: int
    clinic_id: int
    treatment_id: int
    patient_id: int
    kind: str
    onset_date: dt.date
    severity: str
    serious: bool = Field(description="serious in the MedWatch / Yellow Card sense: marked so by the reporter, or "
                                      "derived (a vascular occlusion, a severe allergic reaction, a hyaluronidase "
                                      "rescue given)")
    serious_reason: str = Field(description="the criteria it meets, in words; when none: what would make it serious")
    outcome: str
    description: str
    follow_up_notes: str | None
    patient_sex: str | None
    recorded_by_id: int
    recorded_at: dt.datetime
    updated_at: dt.datetime | None
    containers: list[LinkedContainerOut] = Field(
        description="what may have caused it, never a rescue; a reversed one stays listed, marked")
    lots: list[LotOut] = Field(description="the lots of the containers the patient received (reversed ones left out)")
    rescues: list[RescueOut] = Field(description="the hyaluronidase doses linked to treat it; a reversed one is "
                                                 "marked and was never given")

    @classmethod
    def of(cls, event: AdverseEvent) -> AdverseEventOut:
        serious = adverse_events.seriousness(event)
        return cls(
            id=event.id, clinic_id=event.clinic_id, treatment_id=event.treatment_id, patient_id=event.patient_id,
            kind=event.kind.value, onset_date=event.onset_date, severity=event.severity.value,
            serious=serious.is_serious, serious_reason=str(serious),
            outcome=event.outcome.value, description=event.description, follow_up_notes=event.follow_up_notes,
            patient_sex=event.patient_sex.value if event.patient_sex else None, recorded_by_id=event.recorded_by_id,
            recorded_at=event.recorded_at, updated_at=event.updated_at,
            containers=[LinkedContainerOut(
                id=link.container_id, label_code=link.container.label_code, product_id=link.container.product_id,
                product_name=link.container.product.name, lot_id=link.lot_id, lot_number=link.lot.number,
                reversed=link.is_reversed,
            ) for link in event.suspect_links],
            lots=[LotOut.of(lot) for lot in adverse_events.lots_of(event)],
            rescues=[RescueOut(
                draw_id=r.draw_id, container_id=r.draw.container_id, label_code=r.draw.container.label_code,
                product_name=r.draw.container.product.name, quantity=r.draw.quantity,
                base_unit=r.draw.container.product.base_unit, at=r.draw.at, injector_id=r.draw.injector_id,
                injector=r.draw.injector.label, reversed=r.is_reversed,
            ) for r in event.rescues],
        )


class AdverseEventList(Model):
    adverse_events: list[AdverseEventOut]


class LotSignalOut(Model):
    lot: LotOut
    product_id: int
    product_name: str
    patients_reached: int
    events: int
    events_by_kind: dict[str, int]
    events_by_severity: dict[str, int]
    rate: str | None = Field(description="events per patient reached, a decimal string")
    product_other_lots_patients: int
    product_other_lots_events: int
    product_other_lots_rate: str | None
    unusual: bool
    serious: bool
    adverse_event_ids: list[int]

    @classmethod
    def of(cls, s: adverse_events.LotSignal) -> LotSignalOut:
        return cls(
            lot=LotOut.of(s.lot), product_id=s.product.id, product_name=s.product.name, patients_reached=s.patients,
            events=s.events, events_by_kind=s.by_kind, events_by_severity=s.by_severity,
            rate=None if s.rate is None else f"{s.rate.normalize():f}",
            product_other_lots_patients=s.product_other_patients, product_other_lots_events=s.product_other_events,
            product_other_lots_rate=None if s.product_other_rate is None else f"{s.product_other_rate.normalize():f}",
            unusual=s.is_unusual, serious=s.has_serious, adverse_event_ids=s.event_ids,
        )


class LotSignalList(Model):
    lots: list[LotSignalOut]
