"""Two draws for one patient at the same moment take turns, so the second's dose checks see the first's dose.

QA (PostgreSQL): 40 U of Botox into the forehead in one treatment and 25 U into the glabella in another, from two
vials, drawn at once for the same patient: each dose check read the history before the other's draw was
committed, and both passed without the confirmation 65 U (above the label's 64 U a session) needs. The draw's
lock statement now locks the patient too (no statement more: docs/performance.md), so the second draw waits for
the first to commit and is then asked to confirm. Real threads, connections and commits on a scratch database.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cart import service as cart
from inventory.errors import ConfirmationRequired
from inventory.models import Draw, User, utcnow
from inventory.services.permissions import Scope
from tests import factories

FAR_FUTURE = dt.date(2099, 12, 31)


def _draw(session, treatment_id: int, container_id: int, units: str, area: str) -> None:
    nurse = session.scalar(select(User).where(User.username == "nurse"))
    cart.draw(session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=treatment_id,
              container_id=container_id, quantity=Decimal(units), unit="U", area=area, now=utcnow())


def test_a_second_draw_for_the_patient_waits_for_the_first_and_sees_its_dose(committed_app):
    if committed_app.extensions["vialog_db"].engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one writing transaction at a time (BEGIN IMMEDIATE): draws take turns anyway")
    sessions = committed_app.extensions["vialog_db"].sessionmaker
    with sessions() as session:
        world = factories.build_world(session)
        now = utcnow()
        who = factories.patient(world, "RACE-DOSE")
        forehead = factories.start_treatment(world, who, at=now)
        glabella = factories.start_treatment(world, who, at=now)  # a second treatment for the same visit
        vials = [factories.reconstitute(world, world.container("botox", expiry=FAR_FUTURE, lot=lot, now=now), at=now)
                 for lot in ("RACEA1", "RACEB2")]
        session.commit()
        ids = (forehead.id, glabella.id, vials[0].id, vials[1].id, who.id)
    forehead_id, glabella_id, first_vial, second_vial, patient_id = ids

    second: dict[str, object] = {}
    first = sessions()
    try:
        _draw(first, forehead_id, first_vial, "40", "forehead")  # drawn, not yet committed

        def draw_again() -> None:
            with sessions() as session:
                try:
                    _draw(session, glabella_id, second_vial, "25", "glabella")
                    session.commit()
                    second["result"] = "drawn"
                except BaseException as error:  # reported below, not lost in the thread
                    session.rollback()
                    second["result"] = error

        thread = threading.Thread(target=draw_again)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), second  # waiting for the first draw: it has not judged the dose yet
        first.commit()
    finally:
        first.close()
    thread.join(timeout=20)
    assert not thread.is_alive()

    error = second["result"]
    assert isinstance(error, ConfirmationRequired), error
    assert [w["code"] for w in error.details["warnings"]] == ["above_label_max"]
    assert "65 U of onabotulinumtoxinA this session" in error.message
    with sessions() as session:
        assert session.scalar(select(func.count(Draw.id)).where(Draw.patient_id == patient_id)) == 1
