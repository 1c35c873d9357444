"""Failed sign-ins, counted per account and per address to throttle password guessing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models.base import BigId, Base


class LoginFailure(Base):
    """One failed sign-in (page or API). Rows live only while they can count towards a lock
    (services/throttle.py); a successful sign-in removes the account's rows. The log
    ("vialog.security") keeps the history."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_key_at", "username_key", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username_key: Mapped[str] = mapped_column(
        String(80), comment="the name as typed, trimmed and lower-cased; unknown names count too"
    )
    address: Mapped[str] = mapped_column(String(64), comment="client address (behind a proxy: VIALOG_PROXY_HOPS)")
    at: Mapped[dt.datetime]
