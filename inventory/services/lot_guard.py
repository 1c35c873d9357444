"""Stock that reaches a lot: the lot's row lock, and the hooks that hear of it.

Every path that puts stock of a lot on a shelf (a receipt, a transfer in, a reversed
waste or draw, a count that finds more) takes the lot's row lock with ``lock_lots``
before it touches a container, then calls ``stock_added`` in the same transaction once
the stock is there. A recall opening takes the same lock, so the two never interleave:
either the recall sees the new stock when it lists the lot's containers, or the stock
path sees the recall and joins its case (DOMAIN.md "Lots, expiry and recalls": stock
never slips past a recall).

The core does not know about recall cases: a feature (the recall package) registers a
hook with ``on_stock_added`` from its ``init_app``; hooks run in registration order and
may raise a DomainError to refuse the change. Likewise a feature registers lot checks with
``on_lot_named``, asked whenever a scanned or received box names a lot, and reversal checks with
``on_reversal``, asked before a corrected draw or waste puts its stock back (a correction may contradict
a record that is final: a closed recall case), and hooks with ``on_emptied``, told when a movement leaves a
container holding nothing (a hold on it is then over: the cold chain). Lock order is always lot, then container,
so two stock paths on one lot queue rather than deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, joinedload

from inventory.errors import NotFound
from inventory.models import AuditEvent, Container, Lot, Movement, Product, User

StockAddedHook = Callable[[Session, Lot, Sequence[Container], User, dt.datetime], None]
# (session, lot, container, the draw or waste being reversed, actor, now)
ReversalCheck = Callable[[Session, Lot, Container, Movement, User, dt.datetime], None]
# (session, container, the movement that emptied it, actor, now)
EmptiedHook = Callable[[Session, Container, Movement, User, dt.datetime], None]
LotCheck = Callable[[Session, Product, str], None]
# (product id column, normalised lot number) -> an SQL condition, true when the check would refuse.
LotFlag = Callable[[Any, Any], ColumnElement[bool]]

# Filled by features' init_app (idempotent): registries of functions, not of app state.
_HOOKS: list[StockAddedHook] = []
_LOT_CHECKS: list[LotCheck] = []
_LOT_FLAGS: list[LotFlag] = []
_REVERSAL_CHECKS: list[ReversalCheck] = []
_EMPTIED_HOOKS: list[EmptiedHook] = []


def on_stock_added(hook: StockAddedHook) -> StockAddedHook:
    """Registers ``hook(session, lot, containers, actor, now)``; registering it again changes nothing."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def on_lot_named(check: LotCheck, flag: LotFlag) -> LotCheck:
    """Registers ``check(session, product, lot_number)``, asked whenever a box names a lot (a scan, a
    receipt); it raises a DomainError to refuse (the counterfeit watch list: ``lot_suspect``). ``flag`` is
    the same rule as an SQL condition, so a scan folds it into its one statement and asks ``check`` only
    when it holds."""
    if check not in _LOT_CHECKS:
        _LOT_CHECKS.append(check)
        _LOT_FLAGS.append(flag)
    return check


def on_reversal(check: ReversalCheck) -> ReversalCheck:
    """Registers ``check(session, lot, container, original, actor, now)``, asked before a reversal puts
    ``original``'s quantity back into ``container``; registering it again changes nothing. It raises a
    DomainError to refuse the correction, or records what the correction changes elsewhere (in the same
    transaction as the reversal)."""
    if check not in _REVERSAL_CHECKS:
        _REVERSAL_CHECKS.append(check)
    return check


def on_emptied(hook: EmptiedHook) -> EmptiedHook:
    """Registers ``hook(session, container, movement, actor, now)``, told when ``movement`` (a waste, a count's
    adjustment, a recall's destruction: any movement ``ledger.record`` writes) leaves ``container`` holding
    nothing; registering it again changes nothing."""
    if hook not in _EMPTIED_HOOKS:
        _EMPTIED_HOOKS.append(hook)
    return hook


def emptied(session: Session, container: Container, movement: Movement, *, actor: User, now: dt.datetime) -> None:
    """Tells every registered hook that ``movement`` left the locked ``container`` empty (not yet flushed)."""
    for hook in _EMPTIED_HOOKS:
        hook(session, container, movement, actor, now)


def check_reversal(session: Session, lot: Lot, container: Container, original: Movement, *, actor: User,
                   now: dt.datetime) -> None:
    """Asks every registered reversal check about correcting ``original`` (a draw or a waste of ``container``):
    the lot and the container are locked and nothing is written yet. Raises what the checks raise."""
    for check in _REVERSAL_CHECKS:
        check(session, lot, container, original, actor, now)


def lot_flags(product_id: Any, number_key: Any) -> list[ColumnElement[bool]]:
    """The registered checks as SQL conditions on a product id and a normalised lot number."""
    return [flag(product_id, number_key) for flag in _LOT_FLAGS]


def flag_count() -> int:
    return len(_LOT_FLAGS)


def check_lot_named(session: Session, product: Product, lot_number: str) -> None:
    """Asks every registered lot check about this product's lot number; raises what they raise."""
    for check in _LOT_CHECKS:
        check(session, product, lot_number)


def record_sign(session: Session, *, actor_id: int, clinic_id: int | None, action: str, details: dict[str, Any],
                now: dt.datetime) -> AuditEvent:
    """A counterfeit sign for the safety lead (``lot.flagged_*``): a refused watched lot or repeated
    serial, a vial with no vacuum. Written by the views after the refusal is rolled back."""
    event = AuditEvent(at=now, actor_id=actor_id, clinic_id=clinic_id, action=action, object_type="lot",
                       object_id=str(details.get("lot_id") or ""), details=details)
    session.add(event)
    session.flush()
    return event


def lock_lots(session: Session, lot_ids: Iterable[int]) -> dict[int, Lot]:
    """Locks these lots (SELECT ... FOR UPDATE, in id order) and returns them read afresh.

    On SQLite every writing transaction already holds the database's write lock.
    Raises NotFound for an unknown lot.
    """
    ids = sorted(set(lot_ids))
    if not ids:
        return {}
    lots = {
        lot.id: lot for lot in session.scalars(
            select(Lot).where(Lot.id.in_(ids)).options(joinedload(Lot.product)).order_by(Lot.id)
            .with_for_update(of=Lot).execution_options(populate_existing=True)
        ).unique()
    }
    missing = [i for i in ids if i not in lots]
    if missing:
        raise NotFound(f"No lot with id {missing[0]}.", id=missing[0])
    return lots


def lock_lot(session: Session, lot_id: int) -> Lot:
    return lock_lots(session, [lot_id])[lot_id]


def lot_ids_of(session: Session, container_ids: Iterable[int]) -> list[int]:
    """The lots of these containers (read without a lock: a container never changes lot)."""
    ids = list(set(container_ids))
    if not ids:
        return []
    return sorted(set(session.scalars(select(Container.lot_id).where(Container.id.in_(ids)))))


def stock_added(session: Session, lot: Lot, containers: Sequence[Container], *, actor: User,
                now: dt.datetime) -> None:
    """Tells every registered hook that ``containers`` of ``lot`` now hold stock (the lot is locked)."""
    if not containers:
        return
    session.flush()
    for hook in _HOOKS:
        hook(session, lot, containers, actor, now)


__all__ = [
    "EmptiedHook", "LotCheck", "LotFlag", "ReversalCheck", "StockAddedHook", "check_lot_named", "check_reversal",
    "emptied", "flag_count", "lot_flags", "lock_lot", "lock_lots", "lot_ids_of", "on_emptied", "on_lot_named",
    "on_reversal", "on_stock_added", "record_sign", "stock_added",
]
