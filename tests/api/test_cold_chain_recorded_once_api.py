"""The API records an excursion once: the same one sent again (no idempotency key) is refused 409
excursion_already_recorded with the excursion on file; one reaching beyond it widens it (``widened``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.cold_chain.models import ContainerHold, Excursion
from inventory.models import utcnow
from tests.api.conftest import error_code

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_the_same_excursion_sent_twice_is_recorded_once_and_a_wider_one_widens_it(api, world, session):
    world.container("botox", now=utcnow() - dt.timedelta(days=2))
    now = utcnow()
    body = {"started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=2)).isoformat(),
            "min_c": "8.9", "max_c": "11.2"}
    manager = api("manager")
    path = f"/locations/{world.location().id}/excursions"
    first = manager.post(path, body)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["widened"] is False

    again = manager.post(path, body)

    assert again.status_code == 409, again.get_json()
    assert error_code(again) == "excursion_already_recorded"
    error = again.get_json()["error"]
    assert error["message"].startswith("This excursion is already recorded: LON · Fridge was at 8.9 to 11.2 °C from ")
    assert error["details"]["excursion_id"] == first.get_json()["id"]
    assert session.scalar(select(func.count(Excursion.id))) == 1
    assert session.scalar(select(func.count(ContainerHold.id))) == 1

    wider = manager.post(path, body | {"ended_at": (now - dt.timedelta(hours=1)).isoformat(), "max_c": "14"})

    assert wider.status_code == 201, wider.get_json()
    answer = wider.get_json()
    assert (answer["id"], answer["widened"], answer["max_c"], answer["held"]) == (first.get_json()["id"], True,
                                                                                  "14", [])
    assert session.scalar(select(func.count(Excursion.id))) == 1
    assert session.scalar(select(func.count(ContainerHold.id))) == 1
