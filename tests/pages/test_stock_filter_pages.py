"""The Stock page's filter form and its pages: narrowed by clinic (for a caller with more than one), location,
kind, a search on product or lot and held stock; a page of rows at a time with Previous and Next keeping the
filters; a clinic outside the caller's is unknown; an empty result says whether filters hid the stock."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from inventory.cold_chain import service as cold_chain
from inventory.models import utcnow
from inventory.services.permissions import Scope

FAR = dt.date(2099, 12, 31)


def rows(html: str) -> list[tuple[str, str]]:
    """Each row's lot and place ("LON · Fridge"), in the page's order."""
    found = re.findall(r'<td class="mono">([^<]+)</td>.*?<td>([A-Z]+ · [^<]+)</td>', html, re.S)
    return [(lot, html_lib.unescape(place)) for lot, place in found]


def lots(html: str) -> list[str]:
    return [lot for lot, _ in rows(html)]


def the_form(html: str) -> str:
    start = html.index('<form method="get" action="/stock"')
    return html[start:html.index("</form>", start)]


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select id="[^"]+" name="{name}">(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return [html_lib.unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))]


def link(html: str, rel: str) -> str:
    match = re.search(rf'<a class="button" rel="{rel}" href="([^"]+)"', html)
    assert match, f"no {rel} link"
    return html_lib.unescape(match.group(1))


def five_rows(world) -> None:
    world.receive("filler", lot="FL1", expiry=FAR, containers=2, location=world.location("Room 1"))
    for number in ("BX1", "BX2", "BX3"):
        world.receive("botox", lot=number, expiry=FAR - dt.timedelta(days=int(number[-1])), containers=2)
    world.receive("botox", lot="NY1", expiry=FAR, location=world.location(clinic=world.other_clinic))


def test_the_page_offers_the_filter_form_as_a_search(browser_client, world):
    html = browser_client("manager").get("/stock").get_data(as_text=True)
    form = the_form(html)
    assert 'role="search"' in form and "csrf_token" not in form  # a search, not a change
    assert options(form, "clinic_id") == ["All my clinics", "LON · Clinic LON", "NYC · Clinic NYC"]
    # Every location of the caller's clinics, grouped and labelled by clinic.
    assert options(form, "location_id") == ["All locations", "LON · Cart", "LON · Fridge", "LON · Room 1",
                                            "NYC · Cart", "NYC · Fridge", "NYC · Room 1"]
    assert '<optgroup label="LON · Clinic LON">' in form and '<optgroup label="NYC · Clinic NYC">' in form
    assert options(form, "kind") == ["All kinds", "Neuromodulators", "Fillers", "Hyaluronidase", "Supplies"]
    assert '<label for="stock-q">Product or lot</label>' in form and 'name="q" type="search"' in form
    assert 'name="held_only" value="1"' in form and "> Held only</label>" in form
    assert '<button type="submit" class="primary">Show</button>' in form
    assert "Clear the filters" not in form  # nothing to clear yet


def test_a_nurse_at_one_clinic_gets_no_clinic_choice_and_her_locations_only(browser_client, world):
    world.receive("botox", lot="LONDON1", expiry=FAR)
    world.receive("botox", lot="NEWYORK1", expiry=FAR, location=world.location(clinic=world.other_clinic))
    html = browser_client("nurse").get("/stock").get_data(as_text=True)
    assert 'name="clinic_id"' not in html
    assert options(the_form(html), "location_id") == ["All locations", "Cart", "Fridge", "Room 1"]
    assert lots(html) == ["LONDON1"]


def test_a_chain_manager_narrows_to_one_clinic_and_its_locations(browser_client, world):
    five_rows(world)
    client = browser_client("manager")
    assert lots(client.get("/stock").get_data(as_text=True)) == ["FL1", "BX3", "BX2", "BX1", "NY1"]
    html = client.get(f"/stock?clinic_id={world.other_clinic.id}").get_data(as_text=True)
    assert rows(html) == [("NY1", "NYC · Fridge")]
    form = the_form(html)
    assert re.search(rf'<option value="{world.other_clinic.id}" selected>NYC · Clinic NYC</option>', form)
    assert options(form, "location_id") == ["All locations", "Cart", "Fridge", "Room 1"]  # NYC's own
    assert "Showing rows 1–1 of 1 matching these filters." in html
    assert '<a class="button" href="/stock">Clear the filters</a>' in form
    # A location of the clinic chosen before, left selected when the clinic changed: the clinic wins.
    stale = client.get(f"/stock?clinic_id={world.other_clinic.id}&location_id={world.location('Room 1').id}")
    assert stale.status_code == 200
    text = stale.get_data(as_text=True)
    assert lots(text) == ["NY1"] and "The location chosen is not at this clinic: showing all its locations." in text


def test_a_clinic_or_location_outside_the_nurses_is_unknown(browser_client, world):
    client = browser_client("nurse")
    other = client.get(f"/stock?clinic_id={world.other_clinic.id}")
    assert other.status_code == 404
    assert f"No clinic with id {world.other_clinic.id}." in other.get_data(as_text=True)
    assert client.get(f"/stock?location_id={world.location(clinic=world.other_clinic).id}").status_code == 404


def test_search_kind_and_held_only_narrow_the_list(browser_client, world, session):
    before = utcnow() - dt.timedelta(days=2)
    world.receive("botox", lot="AB12", expiry=FAR, containers=2, now=before)
    world.receive("filler", lot="FL1", expiry=FAR, location=world.location("Cart"), now=before)
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=now)
    session.flush()
    client = browser_client("nurse")
    assert lots(client.get("/stock?q=ab+12").get_data(as_text=True)) == ["AB12"]
    assert lots(client.get("/stock?q=volbella").get_data(as_text=True)) == ["FL1"]
    html = client.get("/stock?kind=filler").get_data(as_text=True)
    assert lots(html) == ["FL1"]
    assert '<option value="filler" selected>Fillers</option>' in html
    held = client.get("/stock?held_only=1").get_data(as_text=True)
    assert lots(held) == ["AB12"] and 'name="held_only" value="1" checked' in held
    assert "(held containers only)" in held
    assert client.get("/stock?q=ab+12").get_data(as_text=True).count('value="ab 12"') == 1  # kept in the box


def test_an_empty_result_says_whether_filters_hid_the_stock(browser_client, world):
    client = browser_client("manager")
    html = client.get("/stock").get_data(as_text=True)
    assert "No stock yet." in html and 'href="/receive"' in html and "No stock matches" not in html
    world.receive("botox", lot="BX1", expiry=FAR)
    html = client.get("/stock?q=nothing+like+it").get_data(as_text=True)
    assert "No stock matches these filters." in html and "No stock yet" not in html
    assert re.search(r'No stock matches these filters\. <a href="/stock">Clear the filters</a>', html)
    assert "Showing rows" not in html


def test_pages_keep_the_filters_and_hold_no_more_than_the_limit(browser_client, world):
    five_rows(world)
    client = browser_client("manager")
    first = client.get("/stock?q=botox&kind=neuromodulator&limit=2").get_data(as_text=True)
    assert lots(first) == ["BX3", "BX2"]
    assert first.count('<tbody class="stock-group">') == 2
    assert first.count("/label.png") == 4  # the labels of these two rows only: two containers each
    assert "Showing rows 1–2 of 4 matching these filters." in first
    assert 'rel="prev"' not in first
    nxt = link(first, "next")
    query = parse_qs(urlsplit(nxt).query)
    assert {k: v for k, v in query.items() if k != "cursor"} == {"q": ["botox"], "kind": ["neuromodulator"],
                                                                 "limit": ["2"]}
    assert 'type="hidden" name="limit" value="2"' in the_form(first)  # a new search keeps the page size

    second = client.get(nxt).get_data(as_text=True)
    assert lots(second) == ["BX1", "NY1"] and "Showing rows 3–4 of 4 matching these filters." in second
    assert 'rel="next"' not in second
    back = client.get(link(second, "prev")).get_data(as_text=True)
    assert lots(back) == ["BX3", "BX2"] and "Showing rows 1–2 of 4" in back


def test_the_page_holds_a_hundred_rows_by_default(browser_client, world, session):
    for n in range(101):
        world.receive("syringe", lot=f"S{n:03d}", expiry=FAR)
    html = browser_client("nurse").get("/stock").get_data(as_text=True)
    assert html.count('<tbody class="stock-group">') == 100
    assert "Showing rows 1–100 of 101." in html
    rest = browser_client("nurse").get(link(html, "next")).get_data(as_text=True)
    assert lots(rest) == ["S100"] and "Showing rows 101–101 of 101." in rest


def test_values_no_choice_of_the_form_sends_are_refused_in_words(browser_client, world):
    client = browser_client("manager")
    for query, message in [("clinic_id=LON", "Clinic: choose one from the list."),
                           ("kind=toxin", "Choose a kind from the list."),
                           ("limit=501", "Show 1 to 500 rows a page."),
                           ("cursor=junk", "This is not a cursor of the stock list"),
                           ("q=" + "x" * 81, "Search with at most 80 characters.")]:
        response = client.get(f"/stock?{query}")
        assert response.status_code == 422, query
        text = response.get_data(as_text=True)
        assert message in text and 'class="flash flash-error"' in text, query
        assert '<form method="get" action="/stock"' in text  # the form stays, to search again


def test_too_many_locations_to_list_wait_for_a_clinic(browser_client, world, monkeypatch):
    from inventory.services import stock_on_hand

    monkeypatch.setattr(stock_on_hand, "MAX_LOCATION_CHOICES", 4)  # the two clinics hold six
    client = browser_client("manager")
    form = the_form(client.get("/stock").get_data(as_text=True))
    assert options(form, "location_id") == ["All locations"]
    assert "Choose a clinic, then Show, to pick one of its locations." in form
    form = the_form(client.get(f"/stock?clinic_id={world.clinic.id}").get_data(as_text=True))
    assert options(form, "location_id") == ["All locations", "Cart", "Fridge", "Room 1"]
    # A location chosen without its clinic: its clinic's locations, that one selected.
    form = the_form(client.get(f"/stock?location_id={world.location('Cart').id}").get_data(as_text=True))
    assert options(form, "location_id") == ["All locations", "Cart", "Fridge", "Room 1"]
    assert f'<option value="{world.location("Cart").id}" selected>Cart</option>' in form
