"""Recall cases: the lots a recall names, the patients to notify and the containers to take back.

A case is chain-wide (a lot's status holds at every clinic at once); each patient and
container line belongs to one clinic, so a clinic-level safety lead works only on the
lines of their own clinics. Every change of a line is also an AuditEvent.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, intpk, sealed, str_enum
from inventory.models.stock import Container, Lot, LotStatus
from inventory.models.treatment import Patient
from inventory.models.user import User


class RecallClass(enum.StrEnum):
    """FDA recall classes (DOMAIN.md): I serious harm or death, II reversible harm, III unlikely harm."""

    I = "I"  # noqa: E741
    II = "II"
    III = "III"


class RecallSource(enum.StrEnum):
    MANUFACTURER = "manufacturer"
    REGULATOR = "regulator"
    INTERNAL = "internal"


class RecallStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    NOTIFIED = "notified"
    UNREACHABLE = "unreachable"
    NOT_REQUIRED = "not_required"  # a Class III case starts here unless the safety lead widens it


class NotificationMethod(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    IN_PERSON = "in_person"


class RecallContainerStatus(enum.StrEnum):
    OPEN = "open"
    RETURNED = "returned"
    DESTROYED = "destroyed"


class RecallCase(Base):
    """One recall: one or more lots, why, how serious, who said so; open until both lists are done."""

    __tablename__ = "recall_cases"
    __table_args__ = (
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_has_closed_at"
        ),
        Index("ix_recall_cases_status_opened", "status", "opened_at"),
    )

    id: Mapped[intpk]
    reason: Mapped[str] = mapped_column(Text, comment="what the notice says, in the safety lead's words")
    recall_class: Mapped[RecallClass] = mapped_column(
        str_enum(RecallClass, "recall_class"), comment="FDA class: I serious, II reversible, III unlikely harm"
    )
    source: Mapped[RecallSource] = mapped_column(
        str_enum(RecallSource, "recall_source"), comment="who raised it: manufacturer, regulator or internal"
    )
    status: Mapped[RecallStatus] = mapped_column(
        str_enum(RecallStatus, "recall_status"), default=RecallStatus.OPEN,
        comment="closed only when no patient is pending and no container open",
    )
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[dt.datetime]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None]
    row_seal: Mapped[sealed]

    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    lots: Mapped[list[RecallLot]] = relationship(back_populates="case", order_by="RecallLot.id")
    patients: Mapped[list[RecallPatient]] = relationship(back_populates="case", order_by="RecallPatient.id")
    containers: Mapped[list[RecallContainer]] = relationship(back_populates="case", order_by="RecallContainer.id")

    @property
    def is_open(self) -> bool:
        return self.status is RecallStatus.OPEN


class RecallLot(Base):
    """A lot named by a recall case. Never deleted: the lot stays recalled for good."""

    __tablename__ = "recall_lots"
    __table_args__ = (UniqueConstraint("case_id", "lot_id"),)

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_cases.id"), comment="unique with lot_id")
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    previous_status: Mapped[LotStatus] = mapped_column(
        str_enum(LotStatus, "lot_status"), comment="the lot's status before the recall (active or quarantined)"
    )
    row_seal: Mapped[sealed]

    case: Mapped[RecallCase] = relationship(back_populates="lots")
    lot: Mapped[Lot] = relationship()


class RecallPatient(Base):
    """A patient who received a dose from a recalled lot (a draw that was not reversed), to notify."""

    __tablename__ = "recall_patients"
    __table_args__ = (
        UniqueConstraint("case_id", "patient_id"),
        CheckConstraint("status <> 'notified' OR method IS NOT NULL", name="notified_has_method"),
        Index("ix_recall_patients_case_status", "case_id", "status"),
    )

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_cases.id"), comment="unique with patient_id")
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(
        ForeignKey("clinics.id"), comment="the patient's clinic: who may see and work this line"
    )
    status: Mapped[NotificationStatus] = mapped_column(
        str_enum(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    method: Mapped[NotificationMethod | None] = mapped_column(
        str_enum(NotificationMethod, "notification_method"), comment="how the patient was told, when notified"
    )
    note: Mapped[str | None] = mapped_column(Text, comment="what was said or tried")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="who set the status last")
    updated_at: Mapped[dt.datetime | None] = mapped_column(comment="when the status was last set")
    row_seal: Mapped[sealed]

    case: Mapped[RecallCase] = relationship(back_populates="patients")
    patient: Mapped[Patient] = relationship()
    updated_by: Mapped[User | None] = relationship()


class RecallContainer(Base):
    """A container of a recalled lot still in stock when the case opened, to return or destroy."""

    __tablename__ = "recall_containers"
    __table_args__ = (
        UniqueConstraint("case_id", "container_id"),
        Index("ix_recall_containers_case_status", "case_id", "status"),
    )

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("recall_cases.id"), comment="unique with container_id")
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(
        ForeignKey("clinics.id"), comment="the container's clinic: who may see and work this line"
    )
    status: Mapped[RecallContainerStatus] = mapped_column(
        str_enum(RecallContainerStatus, "recall_container_status"), default=RecallContainerStatus.OPEN
    )
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), comment="who set the status last")
    updated_at: Mapped[dt.datetime | None] = mapped_column(comment="when the status was last set")
    row_seal: Mapped[sealed]

    case: Mapped[RecallCase] = relationship(back_populates="containers")
    container: Mapped[Container] = relationship()
    updated_by: Mapped[User | None] = relationship()
