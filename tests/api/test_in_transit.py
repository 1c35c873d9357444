"""A container on its way between clinics: unusable at the cart, still found by traces and recalls."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.errors import DomainError
from recall import services as recalls
from tests.api.conftest import error_code
from tests.factories import NOW, patient, reconstitute, send_transfer, start_treatment

FAR = dt.date(2099, 12, 31)


@pytest.fixture
def on_the_road(world, session):
    container = world.container("botox", lot="ROAD1", expiry=FAR)
    send_transfer(world, [container])
    session.flush()
    return container


def test_the_cart_refuses_a_vial_in_transit_in_plain_words(world, session, on_the_road):
    with pytest.raises(DomainError) as refused:
        reconstitute(world, on_the_road)
    assert refused.value.code == "container_in_transit"
    assert "on its way to another clinic" in refused.value.message


def test_a_trace_of_a_lot_with_a_vial_on_the_road_lists_it(api, world, session, on_the_road):
    response = api("safety").get(f"/lots/{on_the_road.lot_id}/trace")
    assert response.status_code == 200, response.get_json()
    states = {c["label_code"]: c["state"] for c in response.get_json()["containers"]}
    assert states == {on_the_road.label_code: "in_transit"}


def test_a_recall_opened_while_a_vial_is_on_the_road_must_take_it_back(world, session, on_the_road):
    case = recalls.open_recall(
        session, actor=world.users["safety"], lot_ids=[on_the_road.lot_id], reason="counterfeit alert",
        recall_class="I", source="regulator", now=NOW,
    )
    assert [item.container_id for item in case.containers] == [on_the_road.id]


def test_api_answers_a_draw_from_a_vial_in_transit_with_its_code(api, world, session, on_the_road):
    treatment = start_treatment(world, patient(world, "T-1", name="Tess"))
    session.flush()
    response = api("nurse").post(f"/treatments/{treatment.id}/draws",
                                 {"container": on_the_road.label_code, "quantity": "4", "unit": "U",
                                  "area": "glabella"})
    assert response.status_code == 409 and error_code(response) == "container_in_transit"
