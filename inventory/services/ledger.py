"""The stock ledger: every change is one appended movement; a container caches its balance.

A service that takes stock calls ``lock_container`` first (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite every transaction already holds the write lock from BEGIN
IMMEDIATE), re-checks its rules on the locked row, then calls ``record`` (the unit of work writes
the movement, chained by audit_chain's flush listener) or, on the draw's hot path, ``append`` (Core
statements, the same rules and the same hash).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, Insert, Select, bindparam, func, insert, select, true, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from inventory import lifecycle
from inventory.errors import NotFound
from inventory.models import Clinic, Container, Lot, Movement, MovementKind, Product, User
from inventory.services import audit_chain, lot_guard
from inventory.services.permissions import Scope


def lock_container(session: Session, container_id: int, scope: Scope) -> Container:
    """Loads and locks one container of the caller's clinics; raises NotFound otherwise.

    One statement: the container FOR UPDATE, its lot FOR SHARE, its product and clinic
    loaded with them. The lot's share lock makes a quarantine or recall (which updates the
    lot row) wait for draws already under way and be seen by every later one, so no dose
    slips past a recall's patient list. After waiting for either lock PostgreSQL re-reads
    both locked rows at their newest version, so the lot status checked is current.
    """
    row = session.execute(_LOCK_CONTAINER, {"container_id": container_id}).first()
    if row is None or not scope.allows(row[0].clinic_id):
        raise NotFound(f"No container with id {container_id}.", id=container_id)
    return locked_container(*row)


def locked_container(container: Container, lot: Lot, product: Product, clinic: Clinic) -> Container:
    """The container of a ``lock_statement`` row with its lot, product and clinic from the same row, set as its
    relationships so that reading them runs no statement."""
    set_committed_value(container, "lot", lot)
    set_committed_value(container, "product", product)
    set_committed_value(container, "clinic", clinic)
    set_committed_value(lot, "product", product)
    return container


def lock_statement(*first: Any) -> Select[Any]:
    """``lock_container``'s statement (parameter ``container_id``), selecting and locking the rows of the
    ``first`` entities before the container's, in the same statement and in that order; the caller adds
    their WHERE. A draw locks its treatment with it (cart.service): one round trip, not two.

    Each row is the ``first`` entities, the container, its lot, product and clinic: loaded side by side, not
    through eager loaders (a sixth of the statement's Python, docs/performance.md); ``locked_container`` sets
    the last three as the container's relationships."""
    statement = select(*first, Container, Lot, Product, Clinic)
    if first:  # joined ON true: the caller's WHERE picks one row of each
        statement = statement.join_from(first[0], Container, true())
    return (
        statement.join(Lot, Lot.id == Container.lot_id)
        .join(Product, Product.id == Container.product_id)
        .join(Clinic, Clinic.id == Container.clinic_id)
        .where(Container.id == bindparam("container_id"))
        .with_for_update(of=[*first, Container])
        .suffix_with("FOR SHARE OF lots", dialect="postgresql")
        # The identity map may hold copies read before the lock: overwrite them.
        .execution_options(populate_existing=True)
    )


# Built once with a bound parameter: every stock change runs it, and building a select with its options costs
# about as much Python as running it.
_LOCK_CONTAINER = lock_statement()


def record(
    session: Session,
    container: Container,
    *,
    kind: MovementKind,
    quantity: Decimal,
    actor: User,
    at: dt.datetime,
    reason: str | None = None,
    note: str | None = None,
    treatment_id: int | None = None,
    reverses: Movement | None = None,
) -> Movement:
    """Appends one movement and updates the container's cached balance with it.

    Raises InsufficientQuantity if the balance would go below zero: quantities are
    refused, never clamped.
    """
    balance = _take(container, kind, quantity)
    movement = Movement(
        clinic_id=container.clinic_id,
        location_id=container.location_id,
        container_id=container.id,
        lot_id=container.lot_id,
        product_id=container.product_id,
        kind=kind,
        quantity=quantity,
        balance_after=balance,
        actor_id=actor.id,
        at=at,
        reason=reason,
        note=note,
        treatment_id=treatment_id,
        reverses_id=reverses.id if reverses is not None else None,
    )
    session.add(movement)
    # A transfer out leaves the container at zero only on its way (to the TRANSFER_IN of a move inside the clinic,
    # or to another clinic): it is not used up, so a hold on it is not over (a held vial carried out of a failed
    # fridge by the safety lead keeps its hold).
    if balance == 0 and quantity < 0 and kind is not MovementKind.TRANSFER_OUT:
        lot_guard.emptied(session, container, movement, actor=actor, now=at)
    return movement


def append(
    session: Session,
    draft: ContainerDraft,
    *,
    kind: MovementKind,
    quantity: Decimal,
    actor_id: int,
    at: dt.datetime,
    reason: str | None = None,
    treatment_id: int | None = None,
    movement_id: int | None = None,
    along: Callable[[int], tuple[Insert, dict[str, Any]]] | None = None,
) -> Appended:
    """``record`` for the hot path (a draw): the same rules, but the movement is written now, by a Core INSERT
    hashed here (audit_chain.movement_hash on the container's chain head, read under its lock), instead of by
    the unit of work and its flush listener. The container's new balance, state and chain head, with whatever
    else ``draft`` changed (the patient a first draw binds it to), are written with it, and so is the row
    ``along`` gives for the movement's id (the draw that names it): on PostgreSQL, with the id the caller's
    lock reserved (``movement_id``, from ``NextMovementId``), in one statement, the others riding in its WITH
    (one round trip); on SQLite by a statement each (a statement there is a function call, not a round trip).

    Raises InsufficientQuantity if the balance would go below zero.
    """
    balance = _take(draft, kind, quantity)
    row = {
        "clinic_id": draft.clinic_id, "location_id": draft.location_id, "container_id": draft.id,
        "lot_id": draft.lot_id, "product_id": draft.product_id, "kind": kind, "quantity": quantity,
        "balance_after": balance, "actor_id": actor_id, "at": at, "reason": reason, "note": None,
        "treatment_id": treatment_id, "reverses_id": None,
    }
    prev = audit_chain.chain_head(draft)
    row_hash = audit_chain.movement_hash(prev, SimpleNamespace(**row))
    draft.chain_head = row_hash
    container = draft.container
    changes = {key: value for key, value in draft.changes.items() if getattr(container, key) != value}
    draft.changes.clear()
    movement = {**row, "prev_hash": prev, "row_hash": row_hash}
    if movement_id is not None:
        movement["id"] = movement_id
    connection = session.connection()
    along_id = None
    if connection.dialect.name != "postgresql":  # a statement each
        movement_id = int(connection.execute(_INSERT_MOVEMENT, movement).scalar_one())
        if changes:
            connection.execute(_UPDATE_CONTAINER, {**changes, "b_id": container.id})
        along_id = _write_along(connection, along, movement_id)
    elif along is not None and movement_id is not None:  # one statement: the row along, the others in its WITH
        along_insert, along_values = along(movement_id)
        statement = _written_together(frozenset(changes), frozenset(movement), along_insert, frozenset(along_values))
        along_id = connection.execute(statement, _parameters(movement, changes, container.id, along_values)).scalar_one()
    else:  # the movement with the container's UPDATE in its WITH, then the row along (no id was reserved)
        statement = _written_together(frozenset(changes), frozenset(movement), None, frozenset())
        movement_id = int(connection.execute(statement, _parameters(movement, changes, container.id, {})).scalar_one())
        along_id = _write_along(connection, along, movement_id)
    for key, value in changes.items():  # the container now reads as the database holds it
        set_committed_value(container, key, value)
    return Appended(movement_id, along_id)


def _write_along(connection: Any, along: Callable[[int], tuple[Insert, dict[str, Any]]] | None,
                 movement_id: int) -> Any:
    """Writes ``along``'s row for the movement by a statement of its own; returns what its INSERT returned."""
    if along is None:
        return None
    along_insert, along_values = along(movement_id)
    return connection.execute(along_insert, along_values).scalar_one()


def _parameters(movement: dict[str, Any], changes: dict[str, Any], container_id: int,
                along: dict[str, Any]) -> dict[str, Any]:
    """``_written_together``'s parameters: each statement's named apart (``_MOVEMENT``, ``_CONTAINER``, ``_ALONG``)."""
    parameters = {_MOVEMENT + key: value for key, value in movement.items()}
    parameters.update({_CONTAINER + key: value for key, value in changes.items()}, b_id=container_id)
    parameters.update({_ALONG + key: value for key, value in along.items()})
    return parameters


@dataclass(frozen=True)
class Appended:
    movement_id: int
    along_id: Any  # what the ``along`` row's INSERT returned (its RETURNING), or None without one


class NextMovementId(FunctionElement[int]):
    """The id the next movement takes, reserved by the statement that selects it (a lock, before ``append``):
    PostgreSQL's sequence for movements; NULL on SQLite, where the movement's INSERT gives it."""

    type = BigInteger()
    inherit_cache = True
    name = "next_movement_id"


@compiles(NextMovementId)
def _no_reserved_id(_element: NextMovementId, _compiler: Any, **_kw: Any) -> str:
    return "NULL"


@compiles(NextMovementId, "postgresql")
def _next_from_sequence(_element: NextMovementId, _compiler: Any, **_kw: Any) -> str:
    return "nextval(pg_get_serial_sequence('movements', 'id'))"


# The combined statement's parameters are named apart from every column: a parameter named as a column would
# be taken by every statement of the WITH (a movement's clinic_id set on the container).
_MOVEMENT, _CONTAINER, _ALONG = "m_", "c_", "a_"


@functools.cache
def _written_together(changed: frozenset[str], movement_keys: frozenset[str], along: Insert | None,
                      along_keys: frozenset[str]) -> Insert:
    """One statement for the movement (its ``movement_keys``), the container's UPDATE of its ``changed``
    columns and ``along``'s row (``along_keys``): the last INSERT is the statement, returning its id, and the
    others ride in its WITH. Built once per shape (SQL only, never data: the values come as parameters)."""
    movements, containers = Movement.__table__.columns, Container.__table__.columns
    ctes = []
    if changed:
        ctes.append(
            update(Container).where(Container.id == bindparam("b_id"))
            .values({containers[key]: bindparam(_CONTAINER + key, type_=containers[key].type) for key in sorted(changed)})
            .cte("container_written")
        )
    movement = insert(Movement).values({movements[key]: bindparam(_MOVEMENT + key, type_=movements[key].type)
                                        for key in sorted(movement_keys)})
    statement: Insert
    if along is None:
        statement = movement.returning(Movement.id)
    else:
        ctes.append(movement.cte("movement_written"))
        columns = along.table.columns
        # A Python-side default is not run for an INSERT built so: the row must give every such column itself.
        defaulted = {column.key for column in columns if column.default is not None} - along_keys
        if defaulted:
            raise ValueError(f"the row written with a movement must give {sorted(defaulted)}")
        statement = along.values({columns[key]: bindparam(_ALONG + key, type_=columns[key].type)
                                  for key in sorted(along_keys)})
    for cte in ctes:
        statement = statement.add_cte(cte)
    return statement


class ContainerDraft:
    """A locked container as the draw's hot path changes it: reads fall through to the container, writes are
    kept here until ``append`` saves them. The ORM object itself is never changed through its
    attributes, so the unit of work has nothing to compare at the commit and skips its flush (a flush that
    finds nothing to write still walks every loaded object: about 0.6 ms of a draw, docs/performance.md).

    The rules take it wherever they take a container (inventory/lifecycle.py's ContainerFacts)."""

    __slots__ = ("container", "changes")

    def __init__(self, container: Container) -> None:
        object.__setattr__(self, "container", container)
        object.__setattr__(self, "changes", {})

    def __getattr__(self, name: str) -> Any:
        changes = self.changes
        return changes[name] if name in changes else getattr(self.container, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _CONTAINER_COLUMNS:  # a relationship or a typo would be lost: refuse it here
            raise AttributeError(f"a container draft holds columns only, not {name!r}")
        self.changes[name] = value


_CONTAINER_COLUMNS = frozenset(column.key for column in Container.__table__.columns)
# Built once (SQL only, never data): the values come as execute parameters, so nothing is coerced or
# cache-keyed per call. The UPDATE sets the columns its parameters name.
_INSERT_MOVEMENT = insert(Movement).returning(Movement.id)
_UPDATE_CONTAINER = update(Container).where(Container.id == bindparam("b_id"))


def _take(container: Container | ContainerDraft, kind: MovementKind, quantity: Decimal) -> Decimal:
    """The container's balance after a movement of ``quantity``, set on it with the state that follows."""
    if quantity < 0:
        lifecycle.ensure_enough(container, -quantity)
    balance = container.remaining + quantity
    container.remaining = balance
    container.state = lifecycle.state_after_movement(container.state, kind=kind, quantity=quantity, balance=balance)
    return balance


@dataclass(frozen=True)
class BalanceMismatch:
    container_id: int
    label_code: str
    cached: Decimal
    ledger: Decimal


def find_balance_mismatches(session: Session) -> list[BalanceMismatch]:
    """Every container whose cached remaining differs from the sum of its movements."""
    ledger_sum = (
        select(Movement.container_id, func.sum(Movement.quantity).label("total"))
        .group_by(Movement.container_id)
        .subquery()
    )
    total = func.coalesce(ledger_sum.c.total, Decimal(0))
    rows = session.execute(
        select(Container.id, Container.label_code, Container.remaining, total)
        .outerjoin(ledger_sum, ledger_sum.c.container_id == Container.id)
        .where(Container.remaining != total)
        .order_by(Container.id)
    )
    return [BalanceMismatch(cid, code, cached, Decimal(ledger)) for cid, code, cached, ledger in rows]
