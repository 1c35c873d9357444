"""People who sign in, what role they hold and which clinics they work at."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata

from sqlalchemy import Column, ForeignKey, String, Table, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from inventory.models.base import Base, created_at, intpk, str_enum
from inventory.models.clinic import Clinic


class Role(enum.StrEnum):
    NURSE = "nurse"
    MANAGER = "manager"
    SAFETY_LEAD = "safety_lead"
    ADMIN = "admin"


user_clinics = Table(
    "user_clinics",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("clinic_id", ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True),
)


USERNAME_KEY_LENGTH = 255


def username_key(username: str) -> str:
    """The form in which two usernames are compared: ``MGR-LON``, ``mgr-lon`` and ``ｍｇｒ-ｌｏｎ`` (full-width)
    are one name. Unicode's caseless match of identifiers (NFKC, case folding, NFKC again), so neither a
    case nor a look-alike compatibility character makes a second account that reads as the first.
    Migration 0016 keeps a frozen copy of this function: change both, and re-key the table, or never."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(80), unique=True)
    username_key: Mapped[str] = mapped_column(
        String(USERNAME_KEY_LENGTH), unique=True, index=True,
        comment="username_key(username): unique, so no two usernames differ only in case; sign-in matches it",
    )
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    is_chain_level: Mapped[bool] = mapped_column(
        default=False, comment="works at every clinic of the chain; otherwise only at user_clinics"
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]
    last_login_at: Mapped[dt.datetime | None]
    session_version: Mapped[int] = mapped_column(
        default=1, server_default=text("1"),
        comment="copied into each page session at sign-in; raising it ends every page session of the user",
    )
    must_change_password: Mapped[bool] = mapped_column(
        default=False, server_default=false(), comment="an admin reset the password: a new one is set at next sign-in"
    )

    clinics: Mapped[list[Clinic]] = relationship(secondary=user_clinics, order_by=Clinic.name)

    @validates("username")
    def _keep_username_key(self, _name: str, username: str) -> str:
        # Whoever sets a username (creation, a rename) sets its key with it: the two never disagree.
        self.username_key = username_key(username)
        return username

    # Flask-Login's protocol, spelled out rather than inherited from a mixin.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def label(self) -> str:
        return self.display_name or self.username


class ApiToken(Base):
    """A bearer token for the API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[created_at]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()
