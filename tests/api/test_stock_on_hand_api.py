"""Stock on hand, narrowed and paged (inventory/services/stock_on_hand.py, ``GET /api/v1/stock``): by clinic,
location, kind, a search on product or lot and held stock only; a clinic or location outside the caller's
clinics is unknown; pages follow one order by keyset, so stock that comes or goes between two pages neither
repeats a row nor skips one; each page carries the labels of its own rows only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.errors import NotFound, ValidationError
from inventory.models import Container, ContainerState, utcnow
from inventory.services import stock_on_hand
from inventory.services.permissions import Scope
from inventory.services.stock_on_hand import StockFilters
from tests.api.conftest import error_code
from tests.factories import refusal, waste
from tests.statements import recorded

FAR = dt.date(2099, 12, 31)


def expiry(days: int) -> dt.date:
    return FAR - dt.timedelta(days=400 - days)


def stock(client, **params) -> dict:
    response = client.get("/stock" + (f"?{urlencode(params)}" if params else ""))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def lots(body: dict) -> list[str]:
    return [row["lot"]["number"] for row in body["rows"]]


def places(body: dict) -> list[tuple[str, str, str]]:
    return [(row["lot"]["number"], row["location"]["clinic_code"], row["location"]["name"]) for row in body["rows"]]


def seven_rows(world) -> None:
    """Seven rows, in the list's order: the filler (kind "filler" first), then Botox's lots by expiry, then
    Dysport's one lot at two places (by location name)."""
    world.receive("filler", lot="FL1", expiry=expiry(30), containers=2, location=world.location("Room 1"))
    world.receive("botox", lot="BX1", expiry=expiry(10))
    world.receive("botox", lot="BX2", expiry=expiry(20), containers=3)
    world.receive("botox", lot="BX3", expiry=expiry(30))
    world.receive("botox", lot="BX4", expiry=expiry(40), containers=2)
    world.receive("dysport", lot="DY1", expiry=expiry(50), location=world.location("Cart"))
    world.receive("dysport", lot="DY1", expiry=expiry(50), containers=2)


SEVEN = [("FL1", "Room 1"), ("BX1", "Fridge"), ("BX2", "Fridge"), ("BX3", "Fridge"), ("BX4", "Fridge"),
         ("DY1", "Cart"), ("DY1", "Fridge")]


def test_a_nurse_reads_only_her_clinics_stock(api, world):
    world.receive("botox", lot="LONDON1", expiry=FAR, containers=2)
    world.receive("botox", lot="NEWYORK1", expiry=FAR, location=world.location(clinic=world.other_clinic))
    body = stock(api("nurse"))
    assert lots(body) == ["LONDON1"]
    (row,) = body["rows"]
    assert row["product"] == {"id": world.botox.id, "name": "Botox Cosmetic 100 U", "kind": "neuromodulator",
                              "base_unit": "U"}
    assert row["lot"]["expiry"] == "2099-12-31" and row["lot"]["status"] == "active"
    assert row["location"] == {"id": world.location().id, "name": "Fridge", "clinic_id": world.clinic.id,
                               "clinic_code": "LON"}
    assert (row["sealed"], row["opened"], row["remaining"], row["on_hold"], row["expired"]) == (2, 0, "200", 0, False)
    assert body["next_cursor"] is None and body["previous_cursor"] is None
    assert stock(api("other_nurse"))["rows"][0]["lot"]["number"] == "NEWYORK1"


def test_a_chain_manager_filtering_by_clinic_reads_only_that_clinic(api, world):
    world.receive("botox", lot="LONDON1", expiry=FAR)
    world.receive("botox", lot="NEWYORK1", expiry=FAR, location=world.location(clinic=world.other_clinic))
    world.receive("botox", lot="NEWYORK2", expiry=FAR, location=world.location("Cart", world.other_clinic))
    manager = api("manager")
    assert lots(stock(manager)) == ["LONDON1", "NEWYORK1", "NEWYORK2"]
    assert places(stock(manager, clinic_id=world.other_clinic.id)) == [("NEWYORK1", "NYC", "Fridge"),
                                                                        ("NEWYORK2", "NYC", "Cart")]
    assert lots(stock(manager, location_id=world.location("Cart", world.other_clinic).id)) == ["NEWYORK2"]
    both = stock(manager, clinic_id=world.other_clinic.id, location_id=world.location(clinic=world.other_clinic).id)
    assert lots(both) == ["NEWYORK1"]
    # The form's "all" choice comes as an empty value: the same as leaving the parameter out.
    assert lots(stock(manager, clinic_id="", location_id="", kind="", cursor="")) == lots(stock(manager))


def test_a_clinic_or_location_outside_the_callers_clinics_is_unknown(api, world):
    world.receive("botox", lot="NEWYORK1", expiry=FAR, location=world.location(clinic=world.other_clinic))
    nurse = api("nurse")
    other = nurse.get(f"/stock?clinic_id={world.other_clinic.id}")
    missing = nurse.get("/stock?clinic_id=999999")
    assert other.status_code == missing.status_code == 404
    assert error_code(other) == "not_found"
    # Another clinic's answers exactly as one that does not exist: nothing tells the two apart.
    assert other.get_json()["error"]["message"] == f"No clinic with id {world.other_clinic.id}."
    assert missing.get_json()["error"]["message"] == "No clinic with id 999999."
    location = nurse.get(f"/stock?location_id={world.location(clinic=world.other_clinic).id}")
    assert location.status_code == 404 and error_code(location) == "not_found"
    assert "No location with id" in location.get_json()["error"]["message"]


def test_a_location_not_at_the_clinic_named_is_refused(api, world):
    response = api("manager").get(f"/stock?clinic_id={world.clinic.id}"
                                  f"&location_id={world.location(clinic=world.other_clinic).id}")
    assert response.status_code == 422 and error_code(response) == "validation_error"
    error = response.get_json()["error"]
    assert error["details"]["field"] == "location_id"
    assert error["message"] == ("Fridge is at NYC, not at LON: choose one of LON's locations, or leave the location "
                                "out.")


def test_a_search_finds_products_by_name_or_brand_and_lots_by_number_as_lots_are_matched(api, world, session):
    world.receive("botox", lot="AB12", expiry=FAR)
    world.receive("botox", lot="CD34", expiry=FAR)
    world.receive("filler", lot="ZZ9", expiry=FAR)
    world.receive("daxxify", lot="DX5", expiry=FAR)
    world.products["daxxify"].brand = "Revance"  # a brand its name does not carry
    session.flush()
    nurse = api("nurse")
    assert lots(stock(nurse, q="volbella")) == ["ZZ9"]
    assert lots(stock(nurse, q="  BOTOX  ")) == ["AB12", "CD34"]
    assert lots(stock(nurse, q="revance")) == ["DX5"]
    # A lot number as lots are matched (lots.number_key: spaces dropped, case ignored).
    assert lots(stock(nurse, q="ab 12")) == ["AB12"]
    assert lots(stock(nurse, q="ab12")) == ["AB12"]
    assert lots(stock(nurse, q="b12")) == ["AB12"]  # part of a number
    # Every word must be found, each in the name, the brand or the lot number.
    assert lots(stock(nurse, q="botox cd")) == ["CD34"]
    assert lots(stock(nurse, q="volbella ab12")) == []
    # Typed as text, never as a pattern.
    assert lots(stock(nurse, q="%")) == [] and lots(stock(nurse, q="_")) == []
    assert error_code(nurse.get("/stock?q=" + "x" * 81)) == "validation_error"
    assert error_code(nurse.get("/stock?q=" + "+".join(f"w{i}" for i in range(9)))) == "validation_error"


def test_kind_narrows_to_one_kind_of_product(api, world):
    world.receive("botox", lot="BX1", expiry=FAR)
    world.receive("filler", lot="FL1", expiry=FAR)
    world.receive("hylenex", lot="HY1", expiry=FAR)
    nurse = api("nurse")
    assert lots(stock(nurse)) == ["FL1", "HY1", "BX1"]  # kinds in the list's order
    assert lots(stock(nurse, kind="filler")) == ["FL1"]
    assert lots(stock(nurse, kind="neuromodulator", q="botox")) == ["BX1"]
    assert lots(stock(nurse, kind="supply")) == []
    response = nurse.get("/stock?kind=toxin")
    assert response.status_code == 422 and response.get_json()["error"]["details"]["field"] == "kind"


def hold_fridge(world, session) -> None:
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=now)
    session.flush()


def test_held_only_lists_the_containers_on_hold_alone(api, world, session):
    before = utcnow() - dt.timedelta(days=2)
    held = world.receive("botox", lot="HELD1", expiry=FAR, containers=3, now=before).containers
    world.receive("filler", lot="CART1", expiry=FAR, location=world.location("Cart"), now=before)
    hold_fridge(world, session)
    released = held[0]
    cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(),
                            container_id=released.id, reason="Stable per manufacturer", now=utcnow())
    world.receive("botox", lot="HELD1", expiry=FAR)  # received after the excursion: not held
    session.flush()
    nurse = api("nurse")

    everything = {row["lot"]["number"]: row for row in stock(nurse)["rows"]}
    assert (everything["HELD1"]["sealed"], everything["HELD1"]["on_hold"]) == (4, 2)
    assert everything["CART1"]["on_hold"] == 0

    (row,) = stock(nurse, held_only="true")["rows"]
    assert row["lot"]["number"] == "HELD1"
    # Only the held containers: their count, what they hold and their labels.
    assert (row["sealed"], row["opened"], row["on_hold"], row["remaining"]) == (2, 0, 2, "200")
    assert sorted(row["label_codes"]) == sorted(c.label_code for c in held[1:])
    assert stock(nurse, held_only="false")["rows"] == stock(nurse)["rows"]
    assert error_code(nurse.get("/stock?held_only=maybe")) == "validation_error"


def test_pages_follow_one_order_with_no_row_twice_and_none_left_out(api, world):
    seven_rows(world)
    manager = api("manager")
    assert [(lot, place) for lot, _, place in places(stock(manager))] == SEVEN

    seen, cursor, pages = [], None, []
    while True:
        body = stock(manager, limit=3, **({"cursor": cursor} if cursor else {}))
        pages.append(body)
        seen += [(lot, place) for lot, _, place in places(body)]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p["rows"]) for p in pages] == [3, 3, 1]
    assert seen == SEVEN
    # Back from the last page: the page before it, as it was read.
    assert stock(manager, limit=3, cursor=pages[2]["previous_cursor"])["rows"] == pages[1]["rows"]
    back_to_first = stock(manager, limit=3, cursor=pages[1]["previous_cursor"])
    assert back_to_first["rows"] == pages[0]["rows"] and back_to_first["previous_cursor"] is None
    assert back_to_first["next_cursor"] is not None


def test_stock_that_comes_or_goes_between_two_pages_neither_repeats_nor_skips_a_row(api, world, session):
    seven_rows(world)
    manager = api("manager")
    first = stock(manager, limit=3)
    assert [row["lot"]["number"] for row in first["rows"]] == ["FL1", "BX1", "BX2"]
    # Meanwhile a lot that sorts among the first page's rows arrives: an offset would show BX2 again.
    bx0 = world.container("botox", lot="BX0", expiry=expiry(5))
    session.flush()
    second = stock(manager, limit=3, cursor=first["next_cursor"])
    assert [row["lot"]["number"] for row in second["rows"]] == ["BX3", "BX4", "DY1"]
    # Then it and the first page's BX1 are used up: an offset would now skip BX3.
    bx1 = session.scalar(select(Container).where(Container.label_code == first["rows"][1]["label_codes"][0]))
    waste(world, bx0, user="manager")
    waste(world, bx1, user="manager")
    session.flush()
    assert lots(stock(manager))[:3] == ["FL1", "BX2", "BX3"]
    assert stock(manager, limit=3, cursor=first["next_cursor"])["rows"] == second["rows"]


def test_each_page_carries_the_labels_of_its_own_rows_only(api, world, session):
    seven_rows(world)
    live = {c.label_code: (c.lot.number, c.location.name)
            for c in session.scalars(select(Container).where(Container.state == ContainerState.SEALED))}
    manager = api("manager")
    body = stock(manager, limit=2)
    codes = [code for row in body["rows"] for code in row["label_codes"]]
    assert sorted(codes) == sorted(code for code, place in live.items() if place in SEVEN[:2])
    for row in body["rows"]:
        assert {live[code] for code in row["label_codes"]} == {(row["lot"]["number"], row["location"]["name"])}
        assert len(row["label_codes"]) == row["sealed"] + row["opened"]


def test_labels_are_read_in_one_statement_whatever_the_rows(api, world, session):
    manager = api("manager")
    world.receive("botox", lot="ONE1", expiry=FAR)
    session.flush()
    stock(manager)
    with recorded(session) as one_row:
        stock(manager)
    seven_rows(world)
    session.flush()
    stock(manager)  # the same request again, once its token's first use is behind it
    with recorded(session) as eight_rows:
        body = stock(manager)
    assert len(body["rows"]) == 8
    assert len(eight_rows) == len(one_row)


def test_a_lot_past_its_expiry_in_the_clinics_own_zone_is_expired(api, world, session):
    old = world.receive("botox", lot="OLD1", expiry=FAR).containers[0]
    world.receive("botox", lot="FRESH1", expiry=FAR)
    old.lot.expiry = dt.date.today() - dt.timedelta(days=3)
    session.flush()
    rows = {row["lot"]["number"]: row["expired"] for row in stock(api("nurse"))["rows"]}
    assert rows == {"OLD1": True, "FRESH1": False}


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=many", "cursor=junk", "cursor=a1.2",
                                   "cursor=a99999999.1.0", "clinic_id=LON", "location_id=-1", "clinic_id=0",
                                   "colour=red"])
def test_bad_parameters_are_refused_with_a_validation_error(api, world, query):
    response = api("nurse").get(f"/stock?{query}")
    assert response.status_code == 422, response.get_json()
    assert error_code(response) == "validation_error"


def test_any_role_reads_stock_but_a_stranger_does_not(api, world):
    world.receive("botox", lot="BX1", expiry=FAR)
    for role in ("nurse", "manager", "safety", "admin", "clinic_manager"):
        assert lots(stock(api(role))) == ["BX1"]
    assert api().get("/stock").status_code == 401
    document = api().get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/stock"]["get"]
    assert operation["x-vialog-permission"] == "cart"
    assert {p["name"] for p in operation["parameters"]} == {"clinic_id", "location_id", "kind", "gprime_category",
                                                             "q", "held_only", "set_aside_only", "limit", "cursor"}
    assert {"404", "422"} <= set(operation["responses"])


# --- the service itself -------------------------------------------------------------------------------------


def test_the_service_says_where_a_page_starts_and_how_many_rows_match(world, session):
    seven_rows(world)
    everywhere = Scope.everything()
    first = stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(), limit=3, count=True)
    assert (first.offset, first.total, len(first.rows)) == (0, 7, 3)
    second = stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(), limit=3, cursor=first.next_cursor)
    assert (second.offset, second.total) == (3, None)
    narrowed = stock_on_hand.stock_on_hand(session, everywhere, now=utcnow(), count=True,
                                           filters=StockFilters(location_id=world.location().id))
    assert narrowed.total == 5 and {row.location.name for row in narrowed.rows} == {"Fridge"}


def test_the_service_refuses_a_place_outside_scope_and_a_limit_out_of_range(world, session):
    london = Scope(frozenset({world.clinic.id}))
    error = refusal(lambda: stock_on_hand.stock_on_hand(
        session, london, now=utcnow(), filters=StockFilters(clinic_id=world.other_clinic.id)))
    assert isinstance(error, NotFound)
    error = refusal(lambda: stock_on_hand.stock_on_hand(session, london, now=utcnow(), limit=501))
    assert isinstance(error, ValidationError) and error.details["field"] == "limit"
