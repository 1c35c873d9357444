"""Filtering stock and the catalog by a filler's G' (firmness) category, and stock set aside for the safety lead
(DOMAIN.md: "reports and pickers can filter by it"; inventory/services/stock_on_hand.py).

``GET /api/v1/stock?gprime_category=`` keeps the fillers of that category; ``set_aside_only`` keeps the containers
no one may use until the safety lead decides: those of a recalled or quarantined lot and those on hold.
``GET /api/v1/products?gprime_category=`` narrows the catalog, and refuses a parameter it does not know as every
query of the API does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

from inventory.cold_chain import service as cold_chain
from inventory.models import GPrimeCategory, utcnow
from inventory.services import stock_on_hand
from inventory.services.permissions import Scope
from inventory.services.stock_on_hand import StockFilters
from recall import services as recall
from tests.api.conftest import error_code
from tests.statements import recorded

FAR = dt.date(2099, 12, 31)


def stock(client, **params) -> dict:
    response = client.get("/stock" + (f"?{urlencode(params)}" if params else ""))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def lots(body: dict) -> list[str]:
    return [row["lot"]["number"] for row in body["rows"]]


def refused(response, field: str) -> str:
    """The message of a 422 validation_error naming ``field``."""
    assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
    error = response.get_json()["error"]
    assert error["details"]["field"] == field, error
    return error["message"]


def fillers_and_a_toxin(world) -> None:
    world.receive("filler", lot="SOFT1", expiry=FAR, containers=2, location=world.location("Room 1"))  # low G'
    world.receive("firm_filler", lot="FIRM1", expiry=FAR - dt.timedelta(days=2), location=world.location("Room 1"))
    world.receive("firm_filler", lot="FIRM2", expiry=FAR - dt.timedelta(days=1), containers=3,
                  location=world.location("Cart"))  # high G'
    world.receive("botox", lot="BX1", expiry=FAR)


def test_stock_narrows_to_the_fillers_of_one_g_prime_category(api, world):
    fillers_and_a_toxin(world)
    nurse = api("nurse")
    assert lots(stock(nurse, kind="filler", gprime_category="high")) == ["FIRM1", "FIRM2"]
    assert lots(stock(nurse, gprime_category="high")) == ["FIRM1", "FIRM2"]  # a category is the fillers' alone
    assert lots(stock(nurse, kind="filler", gprime_category="low")) == ["SOFT1"]
    assert lots(stock(nurse, gprime_category="medium")) == []
    assert stock(nurse, gprime_category="")["rows"] == stock(nurse)["rows"]  # the form's "any": left out
    # Keyset pages keep to the category: the cursor is read with the same filters.
    first = stock(nurse, gprime_category="high", limit=1)
    assert lots(first) == ["FIRM1"]
    second = stock(nurse, gprime_category="high", limit=1, cursor=first["next_cursor"])
    assert lots(second) == ["FIRM2"] and second["next_cursor"] is None


def test_stock_refuses_a_g_prime_that_is_no_category_or_a_kind_that_has_none(api, world):
    fillers_and_a_toxin(world)
    nurse = api("nurse")
    message = refused(nurse.get("/stock?kind=filler&gprime_category=firm"), "gprime_category")
    assert message == "gprime_category: one of 'low', 'medium' or 'high'"
    message = refused(nurse.get("/stock?kind=neuromodulator&gprime_category=high"), "gprime_category")
    assert message == ("Only fillers have a G′ (firmness) category, not neuromodulator products: choose the filler "
                       "kind or all kinds, or leave the G′ category out.")
    document = api().get("/openapi.json").get_json()
    (param,) = [p for p in document["paths"]["/api/v1/stock"]["get"]["parameters"] if p["name"] == "gprime_category"]
    assert param["schema"]["enum"] == ["low", "medium", "high"] and "firmness" in param["schema"]["description"]


def set_aside_scene(world, session) -> dict[str, list[str]]:
    """Held, quarantined, recalled and usable stock, each lot's live labels by lot number."""
    before = utcnow() - dt.timedelta(days=2)
    held = world.receive("botox", lot="HELD1", expiry=FAR, containers=3, now=before).containers
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=now)
    session.flush()
    cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(), container_id=held[0].id,
                            reason="Stable per manufacturer", now=utcnow())
    fine = world.receive("botox", lot="HELD1", expiry=FAR).containers  # after the excursion: usable
    quarantined = world.receive("dysport", lot="QUAR1", expiry=FAR, containers=2, location=world.location("Cart"))
    recalled = world.receive("firm_filler", lot="RCL1", expiry=FAR, location=world.location("Room 1"))
    usable = world.receive("filler", lot="OK1", expiry=FAR, location=world.location("Room 1"))
    recall.quarantine(session, actor=world.users["safety"], lot_id=quarantined.lot_id, reason="Vacuum missing",
                      now=utcnow())
    recall.open_recall(session, actor=world.users["safety"], lot_ids=[recalled.lot_id], reason="Notice 12",
                       recall_class="II", source="manufacturer", now=utcnow())
    session.flush()
    return {
        "held": sorted(c.label_code for c in held[1:]), "released": [held[0].label_code, fine[0].label_code],
        "QUAR1": sorted(c.label_code for c in quarantined.containers),
        "RCL1": [c.label_code for c in recalled.containers], "OK1": [c.label_code for c in usable.containers],
    }


def test_set_aside_only_lists_recalled_quarantined_and_held_containers_alone(api, world, session):
    labels = set_aside_scene(world, session)
    safety = api("safety")
    assert sorted(lots(stock(safety))) == ["HELD1", "OK1", "QUAR1", "RCL1"]

    body = stock(safety, set_aside_only="true")
    rows = {row["lot"]["number"]: row for row in body["rows"]}
    assert sorted(rows) == ["HELD1", "QUAR1", "RCL1"]  # the usable filler is left out
    # A held lot's row counts its held containers alone, not the one released nor the one received since.
    held = rows["HELD1"]
    assert (held["sealed"], held["on_hold"], held["remaining"], held["lot"]["status"]) == (2, 2, "200", "active")
    assert sorted(held["label_codes"]) == labels["held"]
    # Every live container of a quarantined or recalled lot, on hold or not.
    assert (rows["QUAR1"]["sealed"], rows["QUAR1"]["lot"]["status"]) == (2, "quarantined")
    assert sorted(rows["QUAR1"]["label_codes"]) == labels["QUAR1"]
    assert (rows["RCL1"]["sealed"], rows["RCL1"]["lot"]["status"], rows["RCL1"]["label_codes"]) == (
        1, "recalled", labels["RCL1"])

    # With the other filters: on hold only is the held part of it, a kind or a category narrows it.
    assert lots(stock(safety, set_aside_only="true", held_only="true")) == ["HELD1"]
    assert lots(stock(safety, set_aside_only="true", kind="filler")) == ["RCL1"]
    assert lots(stock(safety, set_aside_only="true", gprime_category="low")) == []
    assert stock(safety, set_aside_only="false")["rows"] == stock(safety)["rows"]
    # A page at a time, as the whole list.
    first = stock(safety, set_aside_only="true", limit=2)
    second = stock(safety, set_aside_only="true", limit=2, cursor=first["next_cursor"])
    assert lots(first) + lots(second) == lots(body) and second["next_cursor"] is None
    assert error_code(safety.get("/stock?set_aside_only=maybe")) == "validation_error"
    # A nurse reads it too (she sets the stock aside for the safety lead), at her own clinic only.
    assert sorted(lots(stock(api("nurse"), set_aside_only="1"))) == ["HELD1", "QUAR1", "RCL1"]
    assert lots(stock(api("other_nurse"), set_aside_only="1")) == []


def test_the_catalog_narrows_to_one_g_prime_category(api, world):
    nurse = api("nurse")
    everything = nurse.get("/products")
    assert everything.status_code == 200
    assert len(everything.get_json()["products"]) == len(world.products)  # no filter: the whole catalog, as before
    firm = nurse.get("/products?gprime_category=high")
    assert firm.status_code == 200
    assert [(p["name"], p["gprime_category"]) for p in firm.get_json()["products"]] == [
        ("Juvederm Voluma XC 1.0 mL", "high")]
    soft = nurse.get("/products?gprime_category=low").get_json()["products"]
    assert [p["name"] for p in soft] == ["Juvederm Volbella XC 0.55 mL"]
    assert nurse.get("/products?gprime_category=medium").get_json()["products"] == []


def test_the_catalog_refuses_a_filter_it_does_not_know_rather_than_ignore_it(api, world):
    nurse = api("nurse")
    message = refused(nurse.get("/products?gprime_category=firm"), "gprime_category")
    assert message == "gprime_category: one of 'low', 'medium' or 'high'"
    # Ignored, it would answer the whole catalog as if it were the fillers of that firmness.
    assert refused(nurse.get("/products?gprime=high"), "gprime") == "gprime: not a field of this request: leave it out"
    assert api().get("/products?gprime_category=high").status_code == 401  # who asks is checked first
    document = api().get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/products"]["get"]
    (param,) = operation["parameters"]
    assert (param["name"], param["schema"]["enum"]) == ("gprime_category", ["low", "medium", "high"])
    assert "422" in operation["responses"]


def test_the_set_aside_list_costs_no_statement_per_row(world, session):
    set_aside_scene(world, session)
    everywhere = Scope.everything()
    narrowed = StockFilters(set_aside_only=True)
    stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(), filters=narrowed)
    with recorded(session) as three_rows:
        page = stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(), filters=narrowed)
    assert len(page.rows) == 3 and all(row.labels for row in page.rows)
    firm = StockFilters(gprime_category=GPrimeCategory.HIGH)
    with recorded(session) as one_row:
        assert [row.lot.number for row in stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(),
                                                                      filters=firm).rows] == ["RCL1"]
    assert len(three_rows) == len(one_row) == 2  # the rows, then every row's labels
