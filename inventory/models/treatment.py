"""Patients, their treatments, and the draws that link each dose to its container and lot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from inventory.models.base import BigId, Base, Quantity, created_at, intpk, sealed
from inventory.models.clinic import Location
from inventory.models.stock import Container, Movement
from inventory.models.user import User
from inventory.patient_refs import MAX_REF_KEY, name_search_key, ref_key


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_ref"),
        # A reference looked up across the chain (a chain-level user's scan of a patient's card, the API's
        # patient_ref): the unique index above serves only a look-up that names the clinics.
        Index("ix_patients_external_ref", "external_ref"),
        # The look-alike check of a new reference and a reference typed loosely (migration 0023).
        Index("ix_patients_ref_key", "ref_key"),
    )

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    external_ref: Mapped[str] = mapped_column(String(64), comment="the clinic's own patient reference")
    # Set from the reference as the row is inserted (a reference is never changed once on file).
    ref_key: Mapped[str] = mapped_column(
        String(MAX_REF_KEY), default=lambda context: ref_key(context.get_current_parameters()["external_ref"]),
        comment="what the reference reads as (inventory/patient_refs.py): P-1001, p 1001 and P–1001 alike",
    )
    name: Mapped[str] = mapped_column(String(160))
    # Set with the name (the validator below; the default for a Core INSERT). Not indexed: the Patients page finds
    # a word anywhere in a name, which no b-tree serves; a scan of the keys is a few ms at chain scale.
    name_key: Mapped[str] = mapped_column(
        Text, default=lambda context: name_search_key(context.get_current_parameters()["name"]),
        comment="what the name reads as to a search (inventory/patient_refs.py): Élodie, elodie and ELODIE alike",
    )
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(40), comment="for recall notifications")
    email: Mapped[str | None] = mapped_column(String(254), comment="for recall notifications")
    address: Mapped[str | None] = mapped_column(Text, comment="postal address, for a recall letter")
    created_at: Mapped[created_at]
    row_seal: Mapped[sealed]

    @validates("name")
    def _keep_name_key(self, _name: str, name: str) -> str:
        # Whoever sets a name sets its key with it: the two never disagree.
        self.name_key = name_search_key(name)
        return name


OPEN = "closed_at IS NULL"


class Treatment(Base):
    __tablename__ = "treatments"
    __table_args__ = (
        Index("ix_treatments_clinic_started", "clinic_id", "started_at"),
        Index("ix_treatments_follow_up_due", "clinic_id", "follow_up_on"),
        # The cart's open treatments, newest first, and how many (migration 0026): the few still open, never a
        # walk through the clinic's years of closed ones.
        Index("ix_treatments_open", "clinic_id", "started_at", "id",
              postgresql_where=text(OPEN), sqlite_where=text(OPEN)),
    )

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    injector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    follow_up_on: Mapped[dt.date | None] = mapped_column(
        Date, comment="when to review the result (late effects such as ptosis or nodules show there)"
    )
    checklist: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the pre-treatment questions and their answers: blood thinners, pregnancy, ..."
    )
    follow_up_done_at: Mapped[dt.datetime | None] = mapped_column(
        comment="when the follow-up was done; NULL while it is due"
    )
    row_seal: Mapped[sealed]

    patient: Mapped[Patient] = relationship()
    location: Mapped[Location] = relationship()
    injector: Mapped[User] = relationship(foreign_keys=[injector_id])
    draws: Mapped[list[Draw]] = relationship(back_populates="treatment", order_by="Draw.id")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


# What the lot trace reads from a draw besides its lot (the INCLUDE columns of ix_draws_lot_id).
TRACE_COLUMNS = (
    "id", "movement_id", "treatment_id", "container_id", "patient_id", "clinic_id", "injector_id", "at", "area",
    "area_detail", "quantity", "quantity_ml", "entered_unit", "reason",
)


class Draw(Base):
    """A dose drawn for one patient and area: the digital patient-record sticker."""

    __tablename__ = "draws"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("confirmed_warnings IS NULL OR confirm_reason IS NOT NULL", name="confirmation_has_reason"),
        Index("ix_draws_container_id", "container_id"),
        # The lot -> patients trace (recall.queries.dose_lines) reads one range of this index; on
        # PostgreSQL it carries every column the trace reads, so the draws' rows, scattered over the
        # months a lot is used, are not visited (an index-only scan once VACUUM has set the visibility map).
        Index("ix_draws_lot_id", "lot_id", postgresql_include=list(TRACE_COLUMNS)),
        Index("ix_draws_patient_id", "patient_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"))
    movement_id: Mapped[int] = mapped_column(ForeignKey("movements.id"), unique=True)
    area: Mapped[str] = mapped_column(String(40))
    area_detail: Mapped[str | None] = mapped_column(String(120), comment="free text when area is 'other'")
    quantity: Mapped[Decimal] = mapped_column(Quantity(), comment="in the product's base unit")
    quantity_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    concentration_u_per_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    entered_unit: Mapped[str] = mapped_column(String(8), comment="what the nurse typed: U or mL")
    reason: Mapped[str | None] = mapped_column(String(40), comment="'emergency' for kit use")
    injector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime]
    created_at: Mapped[created_at]
    row_seal: Mapped[sealed]
    # What the dose checks said (inventory/dosing.py), kept with the dose for the audit and the patient's record.
    dose_warnings: Mapped[str | None] = mapped_column(
        String(200), comment="comma-separated codes of the dose warnings shown with this draw"
    )
    confirmed_warnings: Mapped[str | None] = mapped_column(
        String(200), comment="comma-separated codes the injector confirmed to draw anyway"
    )
    confirm_reason: Mapped[str | None] = mapped_column(Text, comment="why the injector drew past those warnings")
    # Copies of the container's lot and the treatment's patient and clinic, written with the draw and
    # never changed (neither a draw's container nor its treatment ever changes): a trace reads draws
    # by lot or patient without joining containers and treatments for every dose.
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), comment="the container's lot, copied at the draw")
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id"), comment="the treatment's patient, copied at the draw"
    )
    clinic_id: Mapped[int] = mapped_column(
        ForeignKey("clinics.id"), comment="the treatment's clinic, copied at the draw"
    )

    treatment: Mapped["Treatment"] = relationship(back_populates="draws")
    container: Mapped[Container] = relationship()
    movement: Mapped[Movement] = relationship()
    injector: Mapped[User] = relationship()
