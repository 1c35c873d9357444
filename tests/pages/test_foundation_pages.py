"""Sign-in, CSRF, roles on pages, stock and receiving pages."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from inventory.models import Container
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token


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
    assert response.headers["Location"] == "/"


def test_a_form_without_its_csrf_token_is_refused(browser_client, world):
    client = browser_client("manager")
    response = client.post(
        "/receive", data={"gtin": world.botox.gtins[0].gtin, "lot": "X1", "expiry": "2028-01-31", "containers": "1",
                          "location_id": str(world.location().id)},
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


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


def test_manager_receives_by_typed_fields_and_gets_a_label_sheet(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    response = client.post(
        "/receive",
        data={"gtin": world.filler.gtins[0].gtin, "lot": "10D9T", "expiry": "2028-01-31", "containers": "3",
              "location_id": str(world.location("Cart").id), "csrf_token": token},
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
              "location_id": str(world.location().id), "csrf_token": token},
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
