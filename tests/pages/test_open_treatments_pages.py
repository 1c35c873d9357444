"""The cart lists the newest open treatments and links to the rest, paged: a clinic that leaves many treatments
open does not get a cart page that lists every one of them (2 MB for 8,775 at the bench's clinic 1)."""

from __future__ import annotations

import datetime as dt
import re

from inventory.cart import pages as cart_pages
from inventory.models import utcnow
from tests.factories import World, start_treatment


def _open(world: World, n: int, *, prefix: str = "P-OPEN", at: dt.datetime | None = None) -> list[int]:
    """``n`` open treatments, a minute apart, oldest first; their ids."""
    start = at or utcnow() - dt.timedelta(minutes=n)
    return [start_treatment(world, f"{prefix}-{i:03d}", at=start + dt.timedelta(minutes=i)).id for i in range(n)]


def _listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/cart/treatments/(\d+)"', html)]


def test_the_cart_lists_the_newest_open_treatments_and_links_to_all_of_them(browser_client, world, session):
    ids = _open(world, cart_pages.CART_HOME_OPEN_TREATMENTS + 5)
    session.flush()
    html = browser_client("nurse").get("/cart").get_data(as_text=True)
    assert _listed(html) == ids[::-1][:cart_pages.CART_HOME_OPEN_TREATMENTS]
    assert f"The {cart_pages.CART_HOME_OPEN_TREATMENTS} newest of {len(ids)} open treatments." in html
    assert 'href="/cart/open"' in html


def test_a_cart_with_few_open_treatments_lists_them_all_without_a_link(browser_client, world, session):
    ids = _open(world, 3)
    session.flush()
    html = browser_client("nurse").get("/cart").get_data(as_text=True)
    assert _listed(html) == ids[::-1]
    assert 'href="/cart/open"' not in html


def test_the_open_treatments_page_pages_through_every_one_once_newest_first(browser_client, world, session,
                                                                             monkeypatch):
    monkeypatch.setattr(cart_pages, "OPEN_TREATMENTS_PAGE", 4)
    # Two started in the same instant: the page's order, and its next page, tell them apart by id.
    ids = _open(world, 9)
    same_moment = utcnow() - dt.timedelta(minutes=30)
    ids = [start_treatment(world, f"P-SAME-{i}", at=same_moment).id for i in range(2)] + ids
    session.flush()
    client = browser_client("nurse")
    seen: list[int] = []
    path = "/cart/open"
    for _ in range(10):
        html = client.get(path).get_data(as_text=True)
        assert f"{len(ids)} open in your clinics" in html
        seen += _listed(html)
        older = re.search(r'href="(/cart/open\?before=\d+)"', html)
        if older is None:
            break
        path = older.group(1)
    assert seen == ids[2:][::-1] + ids[1::-1]  # newest first; the two of one instant, the later id first
    assert len(seen) == len(set(seen)) == len(ids)


def test_open_treatments_of_another_clinic_are_not_listed_nor_counted(browser_client, world, session):
    mine = _open(world, 2)
    start_treatment(world, "N-OTHER", user="other_nurse", clinic=world.other_clinic, at=utcnow())
    session.flush()
    html = browser_client("nurse").get("/cart/open").get_data(as_text=True)
    assert sorted(_listed(html)) == sorted(mine)
    assert "2 open in your clinics" in html


def test_a_treatment_left_open_since_an_earlier_day_says_since_when(browser_client, world, session):
    days_ago = utcnow() - dt.timedelta(days=3)
    (forgotten,) = _open(world, 1, prefix="P-OLD", at=days_ago)
    (today,) = _open(world, 1, prefix="P-NEW")
    session.flush()
    html = browser_client("nurse").get("/cart").get_data(as_text=True)
    cards = dict(re.findall(r'href="/cart/treatments/(\d+)">(.*?)</a>', html, flags=re.S))
    assert "open since" in cards[str(forgotten)]
    assert "open since" not in cards[str(today)]


def test_a_before_that_is_no_treatment_lists_from_the_newest(browser_client, world, session):
    ids = _open(world, 2)
    session.flush()
    html = browser_client("nurse").get("/cart/open?before=999999").get_data(as_text=True)
    assert _listed(html) == ids[::-1]
