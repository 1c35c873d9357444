"""QA's request-shape defects at the cart's API: a JSON body labelled ``text/plain`` was recorded as a draw, a
close retried with ``{}`` instead of no body was refused as a different request, and a refusal's details gave
quantities as ``"96.0000"`` where every answer writes ``"96"``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.models import Draw
from tests.api.conftest import error_code
from tests.api.test_cart_api import botox, draw_body, reconstituted, treatment_for

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def send(nurse, path: str, body: str, content_type: str | None, key: str | None = None):
    headers = {"Authorization": f"Bearer {nurse.token}", **({"Idempotency-Key": key} if key else {})}
    return nurse.client.post("/api/v1" + path, data=body, headers=headers, content_type=content_type)


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "application/xml"])
def test_a_json_body_labelled_as_another_type_is_415_and_draws_nothing(nurse, world, session, content_type):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    sent = send(nurse, f"/treatments/{treatment['id']}/draws", '{"container": "%s", "quantity": "1", "unit": "U", '
                '"area": "glabella"}' % container.label_code, content_type)

    assert sent.status_code == 415 and error_code(sent) == "unsupported_media_type"
    assert "Content-Type: application/json" in sent.get_json()["error"]["message"]
    assert content_type.split(";")[0] in sent.get_json()["error"]["message"]
    assert session.scalar(select(func.count()).select_from(Draw)) == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None])
def test_a_json_body_labelled_json_or_not_labelled_is_read(nurse, world, content_type):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    sent = send(nurse, f"/treatments/{treatment['id']}/draws",
                '{"container": "%s", "quantity": "1", "unit": "U", "area": "glabella"}' % container.label_code,
                content_type)
    assert sent.status_code == 201, sent.get_json()


def test_a_close_retried_with_an_empty_object_replays_the_first_answer(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    assert nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "2")).status_code == 201

    first = send(nurse, f"/treatments/{treatment['id']}/close", "", None, key="close-1")
    again = send(nurse, f"/treatments/{treatment['id']}/close", "{}", "application/json", key="close-1")

    assert first.status_code == 200, first.get_json()
    assert (again.status_code, again.get_json()) == (200, first.get_json())


def test_too_much_waste_gives_its_quantities_as_every_answer_writes_them(nurse, world):
    container = botox(world)
    reconstituted(nurse, container)
    assert nurse.post(f"/containers/{container.label_code}/waste", {"quantity": "4", "reason": "other",
                                                                    "note": "spilt"}).status_code == 201
    too_much = nurse.post(f"/containers/{container.label_code}/waste", {"quantity": "1000", "reason": "dropped"})

    assert too_much.status_code == 409 and error_code(too_much) == "insufficient_quantity"
    details = too_much.get_json()["error"]["details"]
    assert (details["requested"], details["remaining"]) == ("1000", "96")
    assert details["remaining"] == nurse.get(f"/containers/{container.id}").get_json()["remaining"]
