"""The draw's hot path (docs/performance.md): what one draw sends to the database, and that the rows it writes
with Core statements are hashed, sealed and balanced exactly as the unit of work would have written them."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.cart import service as cart
from inventory.errors import NotFound, UnknownContainer
from inventory.models import Container, ContainerState, Draw, Movement, MovementKind
from inventory.services import audit_chain, ledger
from inventory.services.permissions import Scope
from tests.factories import NOW, draw, reconstitute, start_treatment
from tests.statements import kinds, movement_container_and_draw, recorded

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

LATER = NOW + dt.timedelta(hours=1)


def test_a_draw_sends_its_lock_one_read_for_its_dose_checks_and_three_writes_and_nothing_after(world, session):
    vial = reconstitute(world, world.container("botox"))
    treatment = start_treatment(world, "P-ST")
    draw(world, treatment, vial, "4", at=LATER)  # the first: binds the follow-up, and it is flushed below
    session.flush()

    with recorded(session) as sent:
        result = draw(world, treatment, vial, "6", area="forehead", at=LATER)
        session.flush()  # the unit of work has nothing left to write for the draw

    assert kinds(sent) == [
        "SELECT treatments",  # FOR UPDATE, with the container (FOR UPDATE), its lot, product and clinic
        "SELECT draws",  # the patient's history of the molecule, and its typical ranges (UNION ALL)
        # chained to the head the container lock read (containers.chain_head), with the new balance and head
        *movement_container_and_draw(session),
    ]
    assert result.draw.id is not None and result.container.remaining == Decimal("90")
    assert "FROM dose_ranges" in sent[1][0] and "UNION ALL" in sent[1][0]
    if session.bind.dialect.name == "postgresql":
        # The treatment is locked before the container, as closing a treatment does; the lot is shared, so a
        # recall waits for the draw and every later draw sees the recall; the patient as a start locks her, so
        # two draws for her take turns (their dose checks see each other's dose).
        assert sent[0][0].rstrip().endswith(
            "FOR UPDATE OF treatments, containers FOR SHARE OF lots FOR NO KEY UPDATE OF patients")


def test_a_draw_leaves_the_unit_of_work_nothing_to_compare(world, session):
    """The container's new balance, state and chain head are saved by the draw's own UPDATE and set on it as
    saved values: the session holds nothing changed, so the commit skips its flush, and the object reads
    as the row now is."""
    vial = reconstitute(world, world.container("botox"))
    treatment = start_treatment(world, "P-UW")
    draw(world, treatment, vial, "4", at=LATER)  # the first draw sets the treatment's follow-up
    session.flush()

    result = draw(world, treatment, vial, "6", area="forehead", at=LATER)

    assert not session.dirty and not session.new
    assert result.container is session.get(Container, vial.id)
    assert (result.container.remaining, result.container.state) == (Decimal("90"), ContainerState.IN_USE)
    session.expire_all()
    saved = session.get(Container, vial.id)
    assert (saved.remaining, saved.state) == (Decimal("90"), ContainerState.IN_USE)


def test_a_draw_naming_a_missing_treatment_or_container_says_which(world, session):
    """The two locks are one statement; when it finds no row, the draw still says which of the two is missing,
    the treatment first, as locking each in turn would."""
    vial = reconstitute(world, world.container("botox"))
    treatment = start_treatment(world, "P-NF")
    nurse, everywhere = world.user("nurse"), Scope.everything()

    def draw_from(treatment_id: int, container_id: int) -> None:
        cart.draw(session, actor=nurse, scope=everywhere, treatment_id=treatment_id, container_id=container_id,
                  quantity=Decimal("4"), unit="U", area="glabella", now=LATER)

    with pytest.raises(UnknownContainer):
        draw_from(treatment.id, 987654)
    with pytest.raises(NotFound) as missing:
        draw_from(987654, vial.id)
    assert type(missing.value) is NotFound
    with pytest.raises(NotFound) as both:
        draw_from(987654, 987654)
    assert type(both.value) is NotFound


def test_a_drawn_movement_and_draw_chain_and_seal_like_every_other_row(world, session):
    vial = reconstitute(world, world.container("botox"))
    treatment = start_treatment(world, "P-CH")
    first = draw(world, treatment, vial, "4", at=LATER)
    second = draw(world, treatment, vial, "6", area="forehead", at=LATER)
    session.flush()
    session.expire_all()

    movements = list(session.scalars(select(Movement).where(Movement.container_id == vial.id).order_by(Movement.id)))
    assert [m.kind for m in movements][-2:] == [MovementKind.DRAW, MovementKind.DRAW]
    for before, after in zip(movements, movements[1:]):
        assert after.prev_hash == before.row_hash
    for movement in movements:
        assert movement.row_hash == audit_chain.movement_hash(movement.prev_hash, movement)
    assert [m.balance_after for m in movements[-2:]] == [Decimal("96"), Decimal("90")]
    assert [m.id for m in movements[-2:]] == [first.draw.movement_id, second.draw.movement_id]

    spec = audit_chain.SEALED["draws"]
    for draw_row in session.scalars(select(Draw).where(Draw.container_id == vial.id)):
        assert draw_row.row_seal == audit_chain.row_seal(spec, None, draw_row)
    container = session.get(Container, vial.id)
    assert container.remaining == Decimal("90") and container.state is ContainerState.IN_USE
    assert container.chain_head == movements[-1].row_hash
    breaks, _ = audit_chain.find_chain_breaks(session)
    assert breaks == []


def test_a_row_along_is_written_after_its_movement_when_no_id_was_reserved(world, session):
    """``ledger.append`` writes the row along (the draw) in the movement's statement only with an id the lock
    reserved; without one it writes the movement first and the row for the id the INSERT gave. Either way the
    row names its movement and is sealed over it."""
    vial = reconstitute(world, world.container("botox"))
    treatment = start_treatment(world, "P-AL")
    locked = session.scalar(ledger.lock_statement(), {"container_id": vial.id})
    record = Draw(treatment_id=treatment.id, container_id=vial.id, area="glabella", quantity=Decimal("4"),
                  quantity_ml=Decimal("0.1"), concentration_u_per_ml=Decimal("40"), entered_unit="U",
                  injector_id=world.users["nurse"].id, at=LATER, lot_id=vial.lot_id,
                  patient_id=treatment.patient_id, clinic_id=treatment.clinic_id)
    draft = ledger.ContainerDraft(locked)
    with recorded(session) as sent:
        appended = ledger.append(session, draft, kind=MovementKind.DRAW, quantity=Decimal("-4"),
                                 actor_id=world.users["nurse"].id, at=LATER, treatment_id=treatment.id,
                                 along=functools.partial(cart._draw_row, record))
    shapes = [k for k in kinds(sent) if not k.startswith(("SAVEPOINT", "RELEASE"))]
    if session.bind.dialect.name == "postgresql":
        assert shapes == ["INSERT movements (with UPDATE containers)", "INSERT draws"]
    else:
        assert shapes == ["INSERT movements", "UPDATE containers", "INSERT draws"]
    session.expire_all()
    written = session.get(Draw, appended.along_id)
    assert written.movement_id == appended.movement_id
    assert session.get(Movement, appended.movement_id).quantity == Decimal("-4")
    assert written.row_seal == audit_chain.row_seal(audit_chain.SEALED["draws"], None, written)
    assert session.get(Container, vial.id).remaining == Decimal("96")


def test_a_row_along_must_give_every_column_a_python_default_would_fill():
    """The combined statement runs no Python-side column default: a row that left one out would be written
    with it empty (a draw's created_at), so the statement refuses to be built so."""
    from sqlalchemy import insert

    with pytest.raises(ValueError, match="created_at"):
        ledger._written_together(frozenset(), frozenset({"clinic_id"}), insert(Draw), frozenset({"area"}))
