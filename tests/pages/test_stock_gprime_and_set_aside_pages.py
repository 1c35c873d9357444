"""The Stock page's filler firmness (G') filter and its "Set aside only" filter (recalled or quarantined lots and
containers on hold, for the safety lead): offered where they apply, kept in the form and across keyset pages, and
a value no choice of the form sends refused in words."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

from inventory.models import utcnow
from recall import services as recall
from tests.pages.test_stock_filter_pages import link, lots, options, the_form

FAR = dt.date(2099, 12, 31)


def kept_query(href: str) -> dict[str, list[str]]:
    return {k: v for k, v in parse_qs(urlsplit(href).query).items() if k != "cursor"}


def three_firm_lots_and_a_soft_one(world) -> None:
    for n in (1, 2, 3):
        world.receive("firm_filler", lot=f"FIRM{n}", expiry=FAR - dt.timedelta(days=10 - n),
                      location=world.location("Room 1"))
    world.receive("filler", lot="SOFT1", expiry=FAR, location=world.location("Room 1"))
    world.receive("botox", lot="BX1", expiry=FAR)


def test_the_firmness_choice_narrows_the_fillers_and_is_kept_across_pages(browser_client, world):
    three_firm_lots_and_a_soft_one(world)
    client = browser_client("nurse")
    form = the_form(client.get("/stock").get_data(as_text=True))
    assert '<label for="stock-gprime">Filler firmness (G′)</label>' in form
    assert options(form, "gprime_category") == ["Any firmness", "Soft (low G′)", "Medium G′", "Firm (high G′)"]

    first = client.get("/stock?kind=filler&gprime_category=high&limit=2").get_data(as_text=True)
    assert lots(first) == ["FIRM1", "FIRM2"]
    assert '<option value="high" selected>Firm (high G′)</option>' in the_form(first)
    assert "Showing rows 1–2 of 3 matching these filters." in first
    assert '<span class="tag" title="Firmness of the gel (G′)">high G′</span>' in first  # each row says its firmness
    nxt = link(first, "next")
    assert kept_query(nxt) == {"kind": ["filler"], "gprime_category": ["high"], "limit": ["2"]}
    second = client.get(nxt).get_data(as_text=True)
    assert lots(second) == ["FIRM3"] and "Showing rows 3–3 of 3 matching these filters." in second
    assert '<option value="high" selected>Firm (high G′)</option>' in the_form(second)
    assert kept_query(link(second, "prev")) == kept_query(nxt)

    # Without a kind, a firmness is the fillers' alone.
    assert lots(client.get("/stock?gprime_category=low").get_data(as_text=True)) == ["SOFT1"]


def test_the_firmness_choice_is_offered_only_where_it_applies(browser_client, world):
    three_firm_lots_and_a_soft_one(world)
    client = browser_client("nurse")
    toxins = client.get("/stock?kind=neuromodulator").get_data(as_text=True)
    assert 'name="gprime_category"' not in toxins and lots(toxins) == ["BX1"]
    # The kind changed from Fillers with a firmness still chosen: the kind just picked wins, and the page says so.
    changed = client.get("/stock?kind=neuromodulator&gprime_category=high")
    assert changed.status_code == 200
    text = changed.get_data(as_text=True)
    assert lots(text) == ["BX1"]
    assert "Only fillers have a firmness (G′): showing all neuromodulator stock." in html_lib.unescape(text)
    assert 'name="gprime_category"' not in text


def test_a_firmness_no_choice_sends_is_refused_in_words(browser_client, world):
    response = browser_client("manager").get("/stock?gprime_category=firm")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Choose a firmness (G′) from the list." in text and 'class="flash flash-error"' in text
    assert '<form method="get" action="/stock"' in text


def test_set_aside_only_shows_the_stock_the_safety_lead_must_deal_with(browser_client, world, session):
    world.receive("botox", lot="QUAR1", expiry=FAR - dt.timedelta(days=3), containers=2)
    quarantined = world.receive("botox", lot="QUAR1", expiry=FAR - dt.timedelta(days=3))
    recalled = world.receive("dysport", lot="RCL1", expiry=FAR, location=world.location("Cart"))
    for n in (1, 2):
        world.receive("filler", lot=f"OK{n}", expiry=FAR, location=world.location("Room 1"))
    recall.quarantine(session, actor=world.users["safety"], lot_id=quarantined.lot_id, reason="Vacuum missing",
                      now=utcnow())
    recall.open_recall(session, actor=world.users["safety"], lot_ids=[recalled.lot_id], reason="Notice 12",
                       recall_class="I", source="manufacturer", now=utcnow())
    session.flush()
    client = browser_client("safety")
    form = the_form(client.get("/stock").get_data(as_text=True))
    assert re.search(r'<input type="checkbox" id="stock-set-aside" name="set_aside_only" value="1"> <span>Set aside only '
                     r'<span class="hint">\(recalled, quarantined or on hold\)</span></span></label>', form)
    assert "> Held only</label>" in form  # beside the held-only filter, which stays

    first = client.get("/stock?set_aside_only=1&limit=1").get_data(as_text=True)
    assert lots(first) == ["QUAR1"]
    assert 'name="set_aside_only" value="1" checked' in the_form(first)
    assert ("Showing rows 1–1 of 2 matching these filters (set aside containers only: of recalled or quarantined "
            "lots, or on hold).") in first
    nxt = link(first, "next")
    assert kept_query(nxt) == {"set_aside_only": ["1"], "limit": ["1"]}
    second = client.get(nxt).get_data(as_text=True)
    assert lots(second) == ["RCL1"] and 'name="set_aside_only" value="1" checked' in the_form(second)
    assert 'rel="next"' not in second
