"""Who did what: audit events (settings, status changes, patient-data access) and idempotency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models.base import BigId, Base, created_at


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    action: Mapped[str] = mapped_column(String(60), index=True, comment="e.g. product.sharing_changed")
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict | None] = mapped_column(JSON)
    # Tamper evidence (inventory/services/audit_chain.py fills both before every flush).
    prev_hash: Mapped[str] = mapped_column(String(64), comment="row_hash of the previous event; 64 zeros for the first")
    row_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 of this event's canonical fields and prev_hash")


class IdempotencyRecord(Base):
    """The first answer to a request that carried an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64), comment="method, path and body, hashed")
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
