"""The access log: every look at or export of patient data, who and when (DOMAIN.md: traces are logged).

Entries are audit events (hash-chained with every other, inventory/services/audit_chain.py) under two actions;
the recall feature's access-log page lists them, whichever part of Vialog wrote them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from inventory.models import AuditEvent, User

VIEWED = "patient_data.viewed"
EXPORTED = "patient_data.exported"
ACCESS_ACTIONS = (VIEWED, EXPORTED)

__all__ = ["ACCESS_ACTIONS", "EXPORTED", "VIEWED", "record_access"]


def record_access(session: Session, *, viewer: User, action: str, object_type: str, object_id: str | None,
                  now: dt.datetime, details: dict[str, Any], clinic_id: int | None = None) -> AuditEvent:
    """One access-log entry: who looked at or exported patient data, when, and what."""
    event = AuditEvent(at=now, actor_id=viewer.id, clinic_id=clinic_id, action=action, object_type=object_type,
                       object_id=object_id, details=details)
    session.add(event)
    session.flush()
    return event
