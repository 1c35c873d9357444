"""Declarative base, constraint naming convention and the column types Vialog repeats."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, Numeric, String, func
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

QUANTITY_SCALE = 4  # ten-thousandths of a base unit: 0.0001 U, 0.0001 mL


class Quantity(TypeDecorator[Decimal]):
    """An exact decimal quantity in a product's base unit.

    PostgreSQL stores NUMERIC(14, 4). SQLite has no exact decimal type (NUMERIC
    becomes a float), so there the value is stored as an integer count of
    ten-thousandths: sums stay exact on both databases.
    """

    impl = Numeric(14, QUANTITY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, QUANTITY_SCALE))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("quantities are Decimals, never floats")
        value = Decimal(value)
        scaled = value.scaleb(QUANTITY_SCALE)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {QUANTITY_SCALE} decimal places")
        if dialect.name == "sqlite":
            return int(scaled)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-QUANTITY_SCALE)
        return Decimal(value)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A moment in time, stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so naive values coming back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Vialog stores moments in UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def plain_quantity(value: Decimal) -> str:
    """A quantity as people write it: "4", "0.55", "100", never "4.0000", "1E+2" or "-0"."""
    if value == 0:
        return "0"  # also for Decimal("-0"), which a negated empty sum produces
    return f"{value.normalize():f}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def str_enum(enum_cls: type[enum.StrEnum], name: str) -> SAEnum:
    """A string column limited to an enum's values by a CHECK constraint (portable, readable)."""
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


BigId = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())]
quantity = Annotated[Decimal, mapped_column(Quantity())]
short_text = Annotated[str, mapped_column(String(120))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        Decimal: Quantity(),
    }


SEAL_COMMENT = "SHA-256 over the row's traced fields (services/audit_chain.py): vialog verify recomputes it"
# A table a recall or an auditor relies on: each row carries its seal (services/audit_chain.py "seals").
sealed = Annotated[str | None, mapped_column(String(64), comment=SEAL_COMMENT)]
