"""Stock counts: a blind count sheet per location, reviewed and posted by a second manager.

A count moves draft -> submitted -> posted. Posting captures what the ledger expected
on every line and writes one ADJUST movement per container that differs, so the
ledger stays the only record of stock. A posted count is never edited: a later count
follows it.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, Quantity, created_at, intpk, str_enum
from inventory.models.clinic import Location
from inventory.models.stock import Container, Lot
from inventory.models.user import User


class CountStatus(enum.StrEnum):
    DRAFT = "draft"  # the counter is still adding lines
    SUBMITTED = "submitted"  # counting finished, waiting for a second manager
    POSTED = "posted"  # reviewed; the ledger was adjusted; never edited again


class Count(Base):
    __tablename__ = "counts"
    __table_args__ = (
        CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> counted_by_id", name="approver_is_not_counter"
        ),
        CheckConstraint(
            "(status = 'posted') = (posted_at IS NOT NULL AND approved_by_id IS NOT NULL)",
            name="posted_has_approver",
        ),
        CheckConstraint("status = 'draft' OR counted_at IS NOT NULL", name="submitted_has_counted_at"),
        Index("ix_counts_location_posted", "location_id", "posted_at"),
        Index("ix_counts_clinic_status", "clinic_id", "status"),
    )

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), comment="one count sheet per location")
    status: Mapped[CountStatus] = mapped_column(
        str_enum(CountStatus, "count_status"), default=CountStatus.DRAFT, comment="draft, submitted, posted"
    )
    counted_by_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), comment="the manager who counted; may not post the count"
    )
    started_at: Mapped[dt.datetime] = mapped_column(comment="when the count sheet was started")
    counted_at: Mapped[dt.datetime | None] = mapped_column(comment="when the counter submitted the sheet")
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), comment="the second manager who reviewed and posted it"
    )
    posted_at: Mapped[dt.datetime | None] = mapped_column(comment="when the adjustments were written")
    note: Mapped[str | None] = mapped_column(Text, comment="free text from the counter")
    created_at: Mapped[created_at]

    location: Mapped[Location] = relationship()
    counted_by: Mapped[User] = relationship(foreign_keys=[counted_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    lines: Mapped[list[CountLine]] = relationship(back_populates="count", order_by="CountLine.id")

    @property
    def is_posted(self) -> bool:
        return self.status is CountStatus.POSTED


class CountLine(Base):
    """One line of a count sheet: one container (what is left in it), or one lot's sealed stock.

    A container line counts the base units left in one scanned container. A lot line
    (``container_id`` empty) counts the sealed containers of that lot at the count's
    location that are not on a container line of the same count, as containers and
    base units. ``expected`` and ``variance`` stay empty until the count is posted.
    """

    __tablename__ = "count_lines"
    __table_args__ = (
        UniqueConstraint("count_id", "container_id"),
        CheckConstraint("counted >= 0", name="counted_not_negative"),
        CheckConstraint(
            "containers_counted IS NULL OR containers_counted >= 0", name="containers_counted_not_negative"
        ),
        CheckConstraint(
            "(expected IS NULL AND variance IS NULL) OR variance = counted - expected", name="variance_is_difference"
        ),
    )

    id: Mapped[intpk]
    count_id: Mapped[int] = mapped_column(ForeignKey("counts.id"), index=True)
    container_id: Mapped[int | None] = mapped_column(
        ForeignKey("containers.id"), index=True, comment="the container counted; empty for a lot line"
    )
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("lots.id"), index=True, comment="the lot counted (a container line: the container's lot)"
    )
    counted: Mapped[Decimal] = mapped_column(Quantity(), comment="what the counter found, in the product's base unit")
    containers_counted: Mapped[int | None] = mapped_column(
        comment="sealed containers found (lot lines; a sealed container's line: 1 or 0)"
    )
    expected: Mapped[Decimal | None] = mapped_column(
        Quantity(), comment="what the ledger held, captured when the count was posted"
    )
    expected_containers: Mapped[int | None] = mapped_column(comment="sealed containers the ledger held at posting")
    variance: Mapped[Decimal | None] = mapped_column(Quantity(), comment="counted - expected, captured at posting")
    scanned_code: Mapped[str | None] = mapped_column(String(200), comment="what the scanner typed, if scanned")
    entered_at: Mapped[dt.datetime]

    count: Mapped[Count] = relationship(back_populates="lines")
    container: Mapped[Container | None] = relationship()
    lot: Mapped[Lot] = relationship()

    @property
    def is_lot_line(self) -> bool:
        return self.container_id is None
