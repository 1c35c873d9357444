"""Request and response models of the cold chain's API: excursions and holds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from inventory.blueprints.api.schemas import ContainerOut, Id, Model, Moment, Qty
from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import Excursion


def _celsius(value: Any) -> Decimal:
    # A decimal string, as every decimal of the API (API.md): a logger's JSON number is refused, not rounded.
    # Read here whole: however large a finite value is, the service says it is no plausible fridge temperature.
    if not isinstance(value, str):
        raise PydanticCustomError("celsius", 'a temperature is a decimal string in quotes, such as "11.5" or "-1"')
    try:
        degrees = Decimal(value.strip())
    except InvalidOperation:
        degrees = Decimal("NaN")
    if not degrees.is_finite():
        raise PydanticCustomError("celsius", 'a temperature is a decimal number, such as "11.5" or "-1"')
    return degrees


Celsius = Annotated[Decimal, PlainValidator(_celsius), PlainSerializer(str, return_type=str),
                    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]{1,3}(\.[0-9]{1,2})?$",
                                    "description": '°C as a decimal string, e.g. "11.5" or "-1"'})]


class ExcursionIn(Model):
    started_at: Moment = Field(description="ISO 8601 with offset")
    ended_at: Moment = Field(description="ISO 8601 with offset")
    min_c: Celsius
    max_c: Celsius
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class HoldDecisionOut(Model):
    container_id: int
    label_code: str
    product_id: int
    product: str
    held: bool
    storage_min_c: Qty | None = Field(description="the product's storage range, °C; both null: not temperature-sensitive")
    storage_max_c: Qty | None
    reason: str = Field(description='e.g. "Juvederm Voluma XC 1.0 mL: stored at 2-25 °C, not held (9 to 14 °C is '
                                    'within it)"')

    @classmethod
    def of(cls, decision: cold_chain.HoldDecision) -> HoldDecisionOut:
        container, storage = decision.container, decision.storage
        return cls(container_id=container.id, label_code=container.label_code, product_id=container.product_id,
                   product=container.product.name, held=decision.held,
                   storage_min_c=storage.low_c if storage else None, storage_max_c=storage.high_c if storage else None,
                   reason=decision.reason)


class ExcursionOut(Model):
    id: int
    clinic_id: int
    location_id: int
    started_at: dt.datetime
    ended_at: dt.datetime
    min_c: Qty
    max_c: Qty
    note: str | None
    source: str
    recorded_by_id: int
    recorded_at: dt.datetime
    held: list[ContainerOut] = Field(description="the containers this excursion put on hold")
    held_elsewhere: int = Field(default=0, description="held too, but now at a clinic the caller does not work at")
    not_held: list[ContainerOut] = Field(
        default_factory=list,
        description="kept there during it too, but not held: the excursion stayed within their product's storage "
                    "range, or the product is not temperature-sensitive",
    )
    decisions: list[HoldDecisionOut] = Field(
        default_factory=list, description="for each container kept there during it: held or not, and why",
    )
    widened: bool = Field(
        default=False,
        description="it overlapped an excursion recorded at the location already, which was widened to cover both "
                    "(this is that excursion); held, not_held and decisions are then those it decided anew",
    )

    @classmethod
    def of(cls, excursion: Excursion, held: list | None = None) -> ExcursionOut:
        return cls(
            id=excursion.id, clinic_id=excursion.clinic_id, location_id=excursion.location_id,
            started_at=excursion.started_at, ended_at=excursion.ended_at, min_c=excursion.min_c,
            max_c=excursion.max_c, note=excursion.note, source=excursion.source.value,
            recorded_by_id=excursion.recorded_by_id, recorded_at=excursion.recorded_at,
            held=[ContainerOut.of(c) for c in (held if held is not None else [h.container for h in excursion.holds])],
        )

    @classmethod
    def recorded(cls, result: cold_chain.RecordedExcursion) -> ExcursionOut:
        return cls.of(result.excursion, result.held).model_copy(update={
            "held_elsewhere": result.held_elsewhere, "not_held": [ContainerOut.of(c) for c in result.not_held],
            "decisions": [HoldDecisionOut.of(d) for d in result.decisions], "widened": result.widened,
        })


class ReleaseHoldIn(Model):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class EndHoldsIn(Model):
    container_ids: list[Id] = Field(
        min_length=1, max_length=cold_chain.MAX_HOLDS_AT_ONCE,
        description="the held containers to release or waste, all or none",
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class EndedHolds(Model):
    containers: list[ContainerOut] = Field(description="each container released or wasted, in id order")


class HoldOut(Model):
    container: ContainerOut
    on_hold_since: dt.datetime
    hold_reason: str | None
    excursion_ids: list[int]
    emptied: bool = Field(
        default=False,
        description="emptied while on hold by someone who does not decide holds (a closing treatment's "
                    "single-patient remainder, the beyond-use waste, a count): the safety lead confirms it as wasted "
                    "(waste-held)",
    )

    @classmethod
    def of(cls, hold: cold_chain.OpenHold) -> HoldOut:
        return cls(container=ContainerOut.of(hold.container), on_hold_since=hold.since, hold_reason=hold.reason,
                   excursion_ids=[e.id for e in hold.excursions], emptied=hold.is_emptied)


class HoldList(Model):
    holds: list[HoldOut]
