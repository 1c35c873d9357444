"""Sign-in, CSRF, roles on pages, navigation, dates, stock, catalog and receiving pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from inventory.models import Container
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token
from tests.statements import recorded


def test_pages_need_sign_in(browser_client, world):
    response = browser_client().get("/stock")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_shows_a_plain_message(browser_client, world):
    client = browser_client()
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "nurse", "password": "nope-nope-nope", "csrf_token": token})
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_sign_in_only_redirects_within_vialog(browser_client, world):
    client = browser_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=https://evil.example/", data={"username": "nurse", "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/cart"  # her own start page, never the other site


def _sign_in(browser_client, username: str, path: str = "/login"):
    client = browser_client()
    token = csrf_token(client, "/login")
    return client, client.post(path, data={"username": username, "password": PASSWORD, "csrf_token": token})


@pytest.mark.parametrize(("username", "start"), [
    ("nurse", "/cart"), ("manager", "/stock"), ("safety", "/recalls"), ("admin", "/stock"),
])
def test_each_role_lands_on_its_own_start_page(browser_client, world, username, start):
    client, response = _sign_in(browser_client, username)
    assert response.headers["Location"] == start
    assert client.get("/").headers["Location"] == start  # the brand link goes there too
    assert client.get(start).status_code == 200


def test_a_next_page_still_wins_over_the_start_page(browser_client, world):
    _, response = _sign_in(browser_client, "nurse", "/login?next=/kits")
    assert response.headers["Location"] == "/kits"


def _nav_entries(html: str) -> list[str]:
    """The top-level entries of the main navigation, as read: a link's text, or a menu's summary."""
    nav = html[html.index('<nav aria-label="Main"'):html.index("</nav>")]
    entries = re.findall(r'<li class="nav-entry[^"]*">\s*(?:<a [^>]*>([^<]+)</a>|<details[^>]*>\s*<summary[^>]*>([^<]+)<)', nav)
    return [link or summary for link, summary in entries]


def _current_entry(html: str) -> str:
    nav = html[html.index('<nav aria-label="Main"'):html.index("</nav>")]
    match = re.search(r'<li class="nav-entry is-current">\s*(?:<a [^>]*>([^<]+)</a>|<details[^>]*>\s*<summary[^>]*>([^<]+)<)', nav)
    assert match, "no navigation entry is marked current"
    return match.group(1) or match.group(2)


def test_the_navigation_groups_links_into_a_few_menus_per_role(browser_client, world):
    nurse = browser_client("nurse").get("/stock").get_data(as_text=True)
    # A group with one link the role may open is that link; one with none is not there at all.
    # Issue 20: the nurse's one Safety link is her adverse events, so the group shows as that link.
    assert _nav_entries(nurse) == ["Cart", "Stock", "Kits", "Adverse events"]
    assert 'href="/catalog"' in nurse and 'href="/kit-templates"' not in nurse and "Safety" not in nurse
    admin = browser_client("admin").get("/stock").get_data(as_text=True)
    assert _nav_entries(admin) == ["Cart", "Stock", "Kits", "Safety", "Admin"]  # one row at 1024 px
    for path in ("/receive", "/counts", "/transfers", "/catalog", "/locations", "/kit-templates", "/recalls", "/trace",
                 "/users", "/clinics"):
        assert f'href="{path}"' in admin


@pytest.mark.parametrize(("path", "group"), [
    ("/stock", "Stock"), ("/cart/beyond-use", "Stock"), ("/transfers/new", "Stock"), ("/catalog", "Stock"),
    ("/kits", "Kits"), ("/kit-templates", "Kits"), ("/trace", "Safety"), ("/reconciliation", "Stock"),
    ("/locations", "Stock"), ("/users", "Admin"), ("/clinics", "Admin"),
])
def test_the_current_pages_group_is_marked(browser_client, world, path, group):
    html = browser_client("admin").get(path).get_data(as_text=True)
    assert _current_entry(html) == group


def test_dates_read_3_dec_2026_in_the_clinics_own_zone(app):
    clinic_date, clinic_time = app.jinja_env.filters["clinic_date"], app.jinja_env.filters["clinic_time"]
    late = dt.datetime(2026, 12, 4, 2, 5, tzinfo=dt.UTC)  # still the 3rd in New York
    assert clinic_date(dt.date(2026, 12, 3)) == "3 Dec 2026"
    assert clinic_date(late, "America/New_York") == "3 Dec 2026"
    assert clinic_time(late, "America/New_York") == "3 Dec 2026 21:05"
    assert clinic_time(late, "Europe/London") == "4 Dec 2026 02:05"
    assert clinic_time(late, "Europe/London", "%H:%M") == "02:05"
    assert clinic_date(None) == clinic_time(None, "Europe/London") == ""


def test_a_form_without_its_csrf_token_is_refused(browser_client, world):
    client = browser_client("manager")
    response = client.post(
        "/receive", data={"gtin": world.botox.gtins[0].gtin, "lot": "X1", "expiry": "2028-01-31", "containers": "1",
                          "location_id": str(world.location().id)},
    )
    assert response.status_code == 400
    assert "Nothing was saved" in response.get_data(as_text=True)  # refused in words, not "CSRF token missing"


def test_a_nurse_sees_stock_but_may_not_receive(browser_client, world):
    world.receive("botox", lot="C3709C3", containers=2)
    client = browser_client("nurse")
    stock = client.get("/stock").get_data(as_text=True)
    assert "Botox Cosmetic 100 U" in stock and "C3709C3" in stock
    assert client.get("/receive").status_code == 403
    assert 'href="/receive"' not in stock  # not offered in the navigation either


def test_a_nurse_sees_only_her_clinics_stock(browser_client, world):
    world.receive("botox", lot="LONDON1")
    world.receive("botox", lot="NEWYORK1", location=world.location(clinic=world.other_clinic))
    stock = browser_client("nurse").get("/stock").get_data(as_text=True)
    assert "LONDON1" in stock and "NEWYORK1" not in stock


def test_the_stock_page_shows_expiry_dates_in_the_one_date_style(browser_client, world):
    world.receive("botox", lot="EARLY1", expiry=dt.date(2027, 3, 3))
    html = browser_client("nurse").get("/stock").get_data(as_text=True)
    assert "3 Mar 2027" in html and "2027-03-03" not in html


def test_the_stock_page_lists_each_live_containers_label_with_a_reprint_link(browser_client, world):
    containers = world.receive("botox", lot="C3709C3", containers=2).containers
    other = world.container("botox", lot="NYC1", location=world.location(clinic=world.other_clinic))
    html = browser_client("nurse").get("/stock").get_data(as_text=True)
    assert "2 labels" in html
    for container in containers:
        assert f'href="/containers/{container.label_code}"' in html
        assert f'href="/containers/{container.label_code}/label.png"' in html
    assert other.label_code not in html  # another clinic's containers stay out of sight


def test_the_stock_page_reads_every_rows_labels_in_one_statement(browser_client, world, session):
    client = browser_client("nurse")
    world.receive("botox", lot="FIRST1")
    session.flush()
    with recorded(session) as one_row:
        client.get("/stock")
    world.receive("botox", lot="SECOND2", containers=3)
    world.receive("dysport", lot="DY1", containers=2, location=world.location("Cart"))
    world.receive("filler", lot="FL1", containers=4, location=world.location("Room 1"))
    session.flush()
    with recorded(session) as four_rows:
        html = client.get("/stock").get_data(as_text=True)
    assert html.count("/label.png") == 10
    assert one_row and len(four_rows) == len(one_row)


def _card(html: str, product_name: str) -> str:
    start = html.index(f"<h3>{product_name}")
    return html[start:html.index("</li>", start)]


def test_the_catalog_shows_each_kind_with_its_label_facts(browser_client, world):
    html = browser_client("nurse").get("/catalog").get_data(as_text=True)
    assert re.findall(r"<h2>([^<]+)</h2>", html) == ["Neuromodulators", "Fillers", "Hyaluronidase", "Supplies"]
    botox = _card(html, "Botox Cosmetic 100 U")
    assert world.botox.gtins[0].gtin in botox and "100 U" in botox
    assert "Powder: reconstitute before use" in botox and "24 h after reconstitution" in botox
    assert "2.5 mL preservative-free 0.9% sodium chloride" in botox and "Single patient" in botox
    volbella = _card(html, "Juvederm Volbella")
    assert "0.55 mL" in volbella and "Ready to use" in volbella and "low (271 Pa)" in volbella
    hylenex = _card(html, "Hylenex")
    assert "Single patient: an opened vial is never used for anyone else" in hylenex and "150 USP U/mL" in hylenex
    assert 'href="/catalog" aria-current="page"' in html  # in the navigation
    for username in ("manager", "safety", "admin"):
        assert browser_client(username).get("/catalog").status_code == 200


def test_manager_receives_by_typed_fields_and_gets_a_label_sheet(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    response = client.post(
        "/receive",
        data={"gtin": world.filler.gtins[0].gtin, "lot": "10D9T", "expiry": "2028-01-31", "containers": "3",
              "location_id": str(world.location("Cart").id), "supplier_id": str(world.supplier.id),
              "csrf_token": token},
    )
    assert response.status_code == 302
    sheet = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Received 3 × Juvederm Volbella XC 0.55 mL" in sheet and "10D9T" in sheet
    assert sheet.count("label.svg") == 3
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 3


def test_receiving_errors_are_shown_in_words_and_nothing_is_written(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    response = client.post(
        "/receive",
        data={"code": "]d201" + world.botox.gtins[0].gtin[:-1] + "0" + "17290101" + "10ABC", "containers": "1",
              "location_id": str(world.location().id), "supplier_id": str(world.supplier.id), "csrf_token": token},
    )
    assert response.status_code == 422
    assert "check digit" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(Container.id))) == 0


def test_container_page_shows_its_history(browser_client, world):
    container = world.container("botox")
    html = browser_client("nurse").get(f"/containers/{container.label_code}").get_data(as_text=True)
    assert container.label_code in html and "receive" in html and "C3709C3" in html


def test_another_clinics_container_page_is_not_found(browser_client, world):
    container = world.container("botox", location=world.location(clinic=world.other_clinic))
    assert browser_client("nurse").get(f"/containers/{container.label_code}").status_code == 404


def test_receiving_offers_fridges_and_stores_first_and_never_a_kit(browser_client, world, session):
    from inventory.models import Location, LocationKind

    session.add(Location(clinic_id=world.clinic.id, name="Emergency kit", kind=LocationKind.KIT))
    session.flush()
    html = browser_client("clinic_manager").get("/receive").get_data(as_text=True)
    options = re.findall(r"<option[^>]*>([^<]*)</option>", html)
    assert options[0] == "LON · Fridge"
    assert not any("Emergency kit" in o for o in options)
    assert not any(o.startswith("NYC") for o in options)  # a clinic manager receives only into her clinic


def test_an_active_lot_past_its_expiry_is_shown_expired_on_stock_and_container_pages(browser_client, world, session):
    fresh = world.receive("botox", lot="FRESH1").containers[0]
    old = world.receive("botox", lot="OLDLOT1").containers[0]
    old.lot.expiry = dt.date.today() - dt.timedelta(days=3)  # expired on the shelf since it was received
    session.flush()
    client = browser_client("nurse")
    rows = {row.split("</tr>")[0] for row in client.get("/stock").get_data(as_text=True).split('<tr class="lot-')}
    old_row = next(row for row in rows if "OLDLOT1" in row)
    fresh_row = next(row for row in rows if "FRESH1" in row)
    assert ">expired</span>" in old_row and ">expired</span>" not in fresh_row
    assert ">expired " in client.get(f"/containers/{old.label_code}").get_data(as_text=True)
    assert ">expired " not in client.get(f"/containers/{fresh.label_code}").get_data(as_text=True)


def test_an_address_no_page_answers_says_so_in_vialogs_words(browser_client, world):
    page = browser_client("nurse").get("/cart/treatments/not-a-number")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "There is no page at this address. Check the link, or start again from the menu." in text
    assert "requested URL" not in text
