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
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Insert, Select, bindparam, func, insert, select, true, update
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from inventory import lifecycle
from inventory.errors import NotFound
from inventory.models import Container, Movement, MovementKind, User
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
    container = session.scalar(_LOCK_CONTAINER, {"container_id": container_id})
    if container is None or not scope.allows(container.clinic_id):
        raise NotFound(f"No container with id {container_id}.", id=container_id)
    return container


def lock_statement(*first: Any) -> Select[Any]:
    """``lock_container``'s statement (parameter ``container_id``), selecting and locking the rows of the
    ``first`` entities before the container's, in the same statement and in that order; the caller adds
    their WHERE. A draw locks its treatment with it (cart.service): one round trip, not two."""
    statement = select(*first, Container)
    if first:  # joined ON true: the caller's WHERE picks one row of each
        statement = statement.join_from(first[0], Container, true())
    return (
        statement.join(Container.lot)
        .where(Container.id == bindparam("container_id"))
        .options(contains_eager(Container.lot), joinedload(Container.product), joinedload(Container.clinic))
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
    if balance == 0 and quantity < 0:
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
) -> int:
    """``record`` for the hot path (a draw): the same rules, but the movement is written now, by a Core INSERT
    hashed here (audit_chain.movement_hash on the container's chain head, read under its lock), instead of by
    the unit of work and its flush listener. The container's new balance, state and chain head, with whatever
    else ``draft`` changed (the patient a first draw binds it to), are written with it: on PostgreSQL in the
    same statement (its UPDATE rides in a WITH: one round trip), on SQLite by a second one (a statement there
    is a function call, not a round trip). Returns the movement's id.

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
    connection = session.connection()
    if connection.dialect.name == "postgresql" and changes:
        parameters = {_MOVEMENT + key: value for key, value in movement.items()}
        parameters.update({_CONTAINER + key: value for key, value in changes.items()}, b_id=container.id)
        movement_id = connection.execute(_movement_with_container(frozenset(changes)), parameters).scalar_one()
    else:
        movement_id = connection.execute(_INSERT_MOVEMENT, movement).scalar_one()
        if changes:
            connection.execute(_UPDATE_CONTAINER, {**changes, "b_id": container.id})
    for key, value in changes.items():  # the container now reads as the database holds it
        set_committed_value(container, key, value)
    return int(movement_id)


# The combined statement's parameters are named apart from every column: a parameter named as a column would
# be taken by both statements (a movement's clinic_id set on the container).
_MOVEMENT, _CONTAINER = "m_", "c_"


@functools.cache
def _movement_with_container(changed: frozenset[str]) -> Insert:
    """The movement's INSERT carrying the container's UPDATE of ``changed`` columns in a WITH, built once per
    set of columns (SQL only, never data: the values come as execute parameters)."""
    columns = Container.__table__.columns
    written = (
        update(Container).where(Container.id == bindparam("b_id"))
        .values({columns[key]: bindparam(_CONTAINER + key, type_=columns[key].type) for key in sorted(changed)})
        .cte("container_written")
    )
    movement_columns = [column for column in Movement.__table__.columns if column.key != "id"]
    return (
        insert(Movement).values({column: bindparam(_MOVEMENT + column.key, type_=column.type)
                                 for column in movement_columns})
        .returning(Movement.id).add_cte(written)
    )


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
