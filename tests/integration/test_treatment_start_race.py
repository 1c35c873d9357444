"""Two starts at the cart for one patient at the same moment open one treatment, not two.

Each start asks whether the patient has a treatment open and opens one if not: two at once (two tabs, two
nurses) both found none and opened two, and the patient's single-patient vials were then "another session's"
in one of them. The second start now waits for the first and continues its treatment. Real threads and
commits on a scratch database with committed data.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from inventory.cart import service as cart
from inventory.errors import NotFound
from inventory.models import Treatment, User, utcnow
from inventory.services.permissions import Scope
from tests import factories


def _start(session, patient_id: int, location_id: int, *, separate: bool = False) -> tuple[int, bool]:
    nurse = session.scalar(select(User).where(User.username == "nurse"))
    treatment, opened = cart.continue_or_start_treatment(
        session, actor=nurse, scope=Scope.everything(), patient_id=patient_id, location_id=location_id,
        now=utcnow(), separate=separate)
    return treatment.id, opened


def test_a_second_start_while_the_first_is_uncommitted_continues_its_treatment(committed_app):
    sessions = committed_app.extensions["vialog_db"].sessionmaker
    with sessions() as session:
        world = factories.build_world(session)
        patient = factories.patient(world, "RACE-1")
        room_id = world.location("Room 1").id
        session.commit()
        patient_id = patient.id

    second: dict[str, object] = {}
    first = sessions()
    try:
        first_id, first_opened = _start(first, patient_id, room_id)  # opened, not yet committed

        def start_again() -> None:
            with sessions() as session:
                try:
                    second["result"] = _start(session, patient_id, room_id)
                    session.commit()
                except BaseException as error:  # reported below, not lost in the thread
                    second["result"] = error

        thread = threading.Thread(target=start_again)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waiting for the first start: it found nothing open, nor opened anything
        first.commit()
    finally:
        first.close()
    thread.join(timeout=20)

    assert first_opened
    assert second["result"] == (first_id, False)  # continued
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Treatment).where(
            Treatment.patient_id == patient_id, Treatment.closed_at.is_(None))) == 1


def test_a_separate_treatment_asked_for_is_opened_beside_the_open_one(committed_app):
    sessions = committed_app.extensions["vialog_db"].sessionmaker
    with sessions() as session:
        world = factories.build_world(session)
        patient_id = factories.patient(world, "RACE-2").id
        room_id = world.location("Room 1").id
        first_id, opened = _start(session, patient_id, room_id)
        assert opened
        assert _start(session, patient_id, room_id) == (first_id, False)
        second_id, opened = _start(session, patient_id, room_id, separate=True)
        assert opened and second_id != first_id
        session.commit()


def test_a_start_for_a_patient_outside_the_callers_clinics_is_not_found(committed_app):
    sessions = committed_app.extensions["vialog_db"].sessionmaker
    with sessions() as session:
        world = factories.build_world(session)
        patient_id = factories.patient(world, "RACE-3", clinic=world.other_clinic).id
        london_room_id = world.location("Room 1").id
        nurse = world.users["nurse"]  # a London nurse: the New York patient is not hers to see

        with pytest.raises(NotFound):
            cart.continue_or_start_treatment(session, actor=nurse, scope=Scope.for_user(nurse),
                                             patient_id=patient_id, location_id=london_room_id, now=utcnow())
        assert session.scalar(select(func.count()).select_from(Treatment)) == 0
