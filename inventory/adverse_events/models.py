"""Adverse events, the containers (and so lots) they are linked to, and the rescue draws given for them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models import Container, Draw, Lot, Patient, Treatment, User
from inventory.models.base import BigId, Base, intpk, str_enum


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


class AdverseEventContainer(Base):
    """One container (of one lot) the event's treatment drew from and the event is linked to. Never deleted."""

    __tablename__ = "adverse_event_containers"

    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), primary_key=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True, comment="the container's lot, copied")

    event: Mapped[AdverseEvent] = relationship(back_populates="links")
    container: Mapped[Container] = relationship()
    lot: Mapped[Lot] = relationship()


class AdverseEventRescue(Base):
    """A hyaluronidase draw given to treat the event (DOMAIN.md: the first treatment of a vascular occlusion)."""

    __tablename__ = "adverse_event_rescues"

    id: Mapped[intpk]
    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), index=True)
    draw_id: Mapped[int] = mapped_column(BigId, ForeignKey("draws.id"), unique=True)
    note: Mapped[str | None] = mapped_column(String(200))

    event: Mapped[AdverseEvent] = relationship(back_populates="rescues")
    draw: Mapped[Draw] = relationship()
