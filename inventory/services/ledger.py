"""The stock ledger: every change is one appended movement; a container caches its balance.

A service that takes stock calls ``lock_container`` first (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite every transaction already holds the write lock from BEGIN
IMMEDIATE), re-checks its rules on the locked row, then calls ``record`` (the unit of work writes
the movement, chained by audit_chain's flush listener) or, on the draw's hot path, ``append`` and
``write_container`` (Core statements, the same rules and the same hash).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, inspect, select, update
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from inventory import lifecycle
from inventory.errors import NotFound
from inventory.models import Container, Movement, MovementKind, User
from inventory.services import audit_chain
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


# Built once with a bound parameter: every draw runs it, and building a select with its options costs about
# as much Python as running it.
_LOCK_CONTAINER = (
    select(Container)
    .join(Container.lot)
    .where(Container.id == bindparam("container_id"))
    .options(contains_eager(Container.lot), joinedload(Container.product), joinedload(Container.clinic))
    .with_for_update(of=Container)
    .suffix_with("FOR SHARE OF lots", dialect="postgresql")
    # The identity map may hold copies read before the lock: overwrite them.
    .execution_options(populate_existing=True)
)


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
    return movement


def append(
    session: Session,
    container: Container,
    *,
    kind: MovementKind,
    quantity: Decimal,
    actor_id: int,
    at: dt.datetime,
    reason: str | None = None,
    treatment_id: int | None = None,
) -> int:
    """``record`` for the hot path (a draw): the same rules, but the movement is written now, by one Core
    INSERT hashed here (audit_chain.movement_hash on the container's chain head, read under its lock), instead of
    by the unit of work and its flush listener. Returns the movement's id. The container's new balance,
    state and chain head are set on the object; ``write_container`` saves them (or the next flush does).

    Raises InsufficientQuantity if the balance would go below zero.
    """
    balance = _take(container, kind, quantity)
    row = {
        "clinic_id": container.clinic_id, "location_id": container.location_id, "container_id": container.id,
        "lot_id": container.lot_id, "product_id": container.product_id, "kind": kind, "quantity": quantity,
        "balance_after": balance, "actor_id": actor_id, "at": at, "reason": reason, "note": None,
        "treatment_id": treatment_id, "reverses_id": None,
    }
    prev = audit_chain.chain_head(container)
    row_hash = audit_chain.movement_hash(prev, SimpleNamespace(**row))
    movement_id = int(session.connection().execute(
        _INSERT_MOVEMENT, {**row, "prev_hash": prev, "row_hash": row_hash}).scalar_one())
    container.chain_head = row_hash  # written with the balance
    return movement_id


def write_container(session: Session, container: Container) -> None:
    """Saves the container's changed columns now, with one Core UPDATE, and marks them saved, so the
    unit of work has nothing left to write for them. For a container loaded (and locked) by this session."""
    state = inspect(container)
    changes = {attr.key: attr.value for attr in state.attrs
               if attr.key in _CONTAINER_COLUMNS and attr.history.has_changes()}
    if not changes:
        return
    session.connection().execute(_UPDATE_CONTAINER, {**changes, "b_id": container.id})
    for key, value in changes.items():  # saved: the commit's flush finds nothing left to write for them
        set_committed_value(container, key, value)


_CONTAINER_COLUMNS = frozenset(column.key for column in Container.__table__.columns)
# Built once (SQL only, never data): the values come as execute parameters, so nothing is coerced or
# cache-keyed per call. The UPDATE sets the columns its parameters name.
_INSERT_MOVEMENT = insert(Movement).returning(Movement.id)
_UPDATE_CONTAINER = update(Container).where(Container.id == bindparam("b_id"))


def _take(container: Container, kind: MovementKind, quantity: Decimal) -> Decimal:
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
