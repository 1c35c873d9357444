"""POST /watchlist naming the product by both ``product_id`` and ``gtin``: the request schema no longer refuses the
pair (it did, "give product_id or gtin", while the service and docs/api.md take both when they agree); the service
decides: both of one product is taken, two products refused on ``gtin``; neither is still refused."""

from __future__ import annotations

from sqlalchemy import select

from inventory.counterfeit.models import WatchedLot
from tests.api.conftest import error_code


def test_a_watch_naming_one_product_by_both_its_id_and_its_gtin_is_taken(api, world, session):
    answer = api("safety").post("/watchlist", {"product_id": world.botox.id, "gtin": world.botox.gtins[0].gtin,
                                               "lot_number": "FAKE78", "source": "FDA alert"})
    assert answer.status_code == 201, answer.get_json()
    assert (answer.get_json()["product_id"], answer.get_json()["lot_number"]) == (world.botox.id, "FAKE78")
    session.expire_all()
    assert [entry.product_id for entry in session.scalars(select(WatchedLot))] == [world.botox.id]


def test_a_watch_whose_id_and_gtin_name_two_products_is_refused_on_gtin(api, world, session):
    dysport = world.products["dysport"]
    answer = api("safety").post("/watchlist", {"product_id": world.botox.id, "gtin": dysport.gtins[0].gtin,
                                               "lot_number": "FAKE78", "source": "FDA alert"})
    assert (answer.status_code, error_code(answer)) == (422, "validation_error")
    details = answer.get_json()["error"]["details"]
    assert details["field"] == "gtin"
    assert (details["product_id"], details["gtin_product_id"]) == (world.botox.id, dysport.id)
    assert session.scalars(select(WatchedLot)).all() == []


def test_a_watch_naming_no_product_is_refused(api, world, session):
    answer = api("safety").post("/watchlist", {"lot_number": "FAKE78", "source": "FDA alert"})
    assert (answer.status_code, error_code(answer)) == (422, "validation_error")
    assert "give product_id or gtin" in answer.get_json()["error"]["message"]
    for empty in ({"product_id": None}, {"gtin": None}, {"product_id": None, "gtin": None}):
        answer = api("safety").post("/watchlist", {"lot_number": "FAKE78", "source": "FDA alert"} | empty)
        assert (answer.status_code, error_code(answer)) == (422, "validation_error"), empty
    assert session.scalars(select(WatchedLot)).all() == []
