"""Adverse events, the containers (and so lots) they are linked to, and the rescue draws given for them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, String, Text, exists, or_
from sqlalchemy.orm import Mapped, aliased, column_property, mapped_column, relationship

from inventory.models import Container, Draw, Lot, Movement, Patient, Product, ProductKind, Treatment, User
from inventory.models.base import BigId, Base, intpk, str_enum

# The reason an emergency kit draw carries (cart.EMERGENCY; the cart imports this feature, not the reverse).
EMERGENCY = "emergency"


class EventKind(enum.StrEnum):
    VASCULAR_OCCLUSION = "vascular_occlusion"
    PTOSIS = "ptosis"
    NODULE = "nodule"  # or granuloma
    INFECTION = "infection"
    ALLERGIC_REACTION = "allergic_reaction"
    BRUISING_SWELLING = "bruising_swelling"  # beyond the usual
    MIGRATION = "migration"
    OTHER = "other"


class Severity(enum.StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    SERIOUS = "serious"  # the regulators' sense: death, threat to life, hospital, disability, intervention


class Outcome(enum.StrEnum):
    ONGOING = "ongoing"
    RECOVERING = "recovering"
    RESOLVED = "resolved"
    RESOLVED_WITH_SEQUELAE = "resolved_with_sequelae"
    UNKNOWN = "unknown"


class PatientSex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class AdverseEvent(Base):
    """What happened to a patient after a treatment, recorded against that treatment."""

    __tablename__ = "adverse_events"

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True,
                                            comment="the treatment's patient, copied")
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, "adverse_event_kind"))
    onset_date: Mapped[dt.date] = mapped_column(Date)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, "adverse_event_severity"))
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "adverse_event_outcome"))
    description: Mapped[str] = mapped_column(Text)
    follow_up_notes: Mapped[str | None] = mapped_column(Text)
    patient_sex: Mapped[PatientSex | None] = mapped_column(
        str_enum(PatientSex, "patient_sex"), comment="asked by MedWatch and the Yellow Card"
    )
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]

    treatment: Mapped[Treatment] = relationship()
    patient: Mapped[Patient] = relationship()
    recorded_by: Mapped[User] = relationship()
    links: Mapped[list[AdverseEventContainer]] = relationship(
        back_populates="event", order_by="AdverseEventContainer.container_id"
    )
    rescues: Mapped[list[AdverseEventRescue]] = relationship(back_populates="event", order_by="AdverseEventRescue.id")

    @property
    def suspect_links(self) -> list[AdverseEventContainer]:
        """The containers linked as the event's possible cause: its links, less those that were its rescue.
        Shown with every link, a reversed one marked (``is_reversed``); see :attr:`given_suspect_links`."""
        return [link for link in self.links if not link.is_rescue]

    @property
    def given_suspect_links(self) -> list[AdverseEventContainer]:
        """The suspects the patient really received: what the lots, the regulator's report and the lot signals
        count. A container whose every draw in the treatment was reversed never reached the patient."""
        return [link for link in self.suspect_links if not link.is_reversed]

    @property
    def given_rescues(self) -> list[AdverseEventRescue]:
        """The rescue doses the patient really received (a reversed draw was never given)."""
        return [rescue for rescue in self.rescues if not rescue.is_reversed]


class AdverseEventContainer(Base):
    """One container (of one lot) the event's treatment drew from and the event is linked to. Never deleted."""

    __tablename__ = "adverse_event_containers"

    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), primary_key=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True, comment="the container's lot, copied")

    event: Mapped[AdverseEvent] = relationship(back_populates="links")
    container: Mapped[Container] = relationship()
    lot: Mapped[Lot] = relationship()
    if TYPE_CHECKING:
        is_rescue: Mapped[bool]  # a SQL expression, mapped below once the rescues' table exists
        is_reversed: Mapped[bool]  # likewise: no draw of the container in the event's treatment stands


class AdverseEventRescue(Base):
    """A hyaluronidase draw given to treat the event (DOMAIN.md: the first treatment of a vascular occlusion)."""

    __tablename__ = "adverse_event_rescues"

    id: Mapped[intpk]
    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), index=True)
    draw_id: Mapped[int] = mapped_column(BigId, ForeignKey("draws.id"), unique=True)
    note: Mapped[str | None] = mapped_column(String(200))

    event: Mapped[AdverseEvent] = relationship(back_populates="rescues")
    draw: Mapped[Draw] = relationship()
    if TYPE_CHECKING:
        is_reversed: Mapped[bool]  # a SQL expression, mapped below


# A link whose container treated the event is its rescue, never its cause (DOMAIN.md: emergency hyaluronidase
# links to the event it treats), whatever the link row says: a draw from it was linked as the event's rescue,
# or it is hyaluronidase drawn as an emergency (kit use) in the event's own treatment. Worked out when read,
# so events recorded before this rule, which linked such a vial as a cause, are read right without a migration;
# the report, the lot signals and the event's lots read only the other links.
_rescue, _rescue_draw, _kit_draw = aliased(AdverseEventRescue), aliased(Draw), aliased(Draw)
_event, _container, _product, _reversal = aliased(AdverseEvent), aliased(Container), aliased(Product), aliased(Movement)
AdverseEventContainer.is_rescue = column_property(or_(
    exists().where(
        _rescue.adverse_event_id == AdverseEventContainer.adverse_event_id, _rescue_draw.id == _rescue.draw_id,
        _rescue_draw.container_id == AdverseEventContainer.container_id,
    ),
    exists().where(
        _event.id == AdverseEventContainer.adverse_event_id, _kit_draw.treatment_id == _event.treatment_id,
        _kit_draw.container_id == AdverseEventContainer.container_id, _kit_draw.reason == EMERGENCY,
        ~exists().where(_reversal.reverses_id == _kit_draw.movement_id),
        _container.id == AdverseEventContainer.container_id, _product.id == _container.product_id,
        _product.kind == ProductKind.HYALURONIDASE,
    ),
))

# A rescue whose draw was reversed afterwards keeps its link (links are never deleted), but it was never given.
_given_draw, _given_reversal = aliased(Draw), aliased(Movement)
AdverseEventRescue.is_reversed = column_property(exists().where(
    _given_draw.id == AdverseEventRescue.draw_id, _given_reversal.reverses_id == _given_draw.movement_id,
))

# A cause link whose container's every draw in the event's treatment was reversed (a double entry, the wrong vial
# scanned) was never given: the link stays and is shown, marked, but nothing counts it as the event's cause.
_cause_event, _cause_draw, _cause_reversal = aliased(AdverseEvent), aliased(Draw), aliased(Movement)
AdverseEventContainer.is_reversed = column_property(~exists().where(
    _cause_event.id == AdverseEventContainer.adverse_event_id, _cause_draw.treatment_id == _cause_event.treatment_id,
    _cause_draw.container_id == AdverseEventContainer.container_id,
    ~exists().where(_cause_reversal.reverses_id == _cause_draw.movement_id),
))
