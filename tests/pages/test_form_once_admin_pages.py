"""The administration forms that add something record once, however often they reach the server: a user, a
product, a location, a clinic. A second click while the first request was slow added the same thing again, or
answered the admin "already taken" about what she had just added.

As in test_form_once_stock_pages.py, each test posts what the page rendered (its one-time form_key) twice; the
second adds nothing and lands where the first did. A password is never part of the request's stored hash.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from inventory.models import Clinic, IdempotencyRecord, Location, Product, User
from tests.pages.test_cart_form_once_pages import page_form
from tests.pages.test_form_once_stock_pages import twice


def _count(session, column, *where) -> int:
    session.expire_all()
    return session.scalar(select(func.count(column)).where(*where))


def test_a_user_added_twice_is_added_once_and_her_password_is_not_in_the_stored_hash(browser_client, world,
                                                                                       session):
    admin = browser_client("admin")
    password = "long-enough-pw-77"
    data = page_form(admin, "/users", "/users") | {
        "username": "twice-nurse", "display_name": "Twice", "role": "nurse", "clinic_ids": [str(world.clinic.id)],
        "password": password}
    twice(admin, "/users", data)
    assert _count(session, User.id, User.username == "twice-nurse") == 1
    stored = " ".join(r.request_hash + r.key for r in session.scalars(select(IdempotencyRecord)))
    assert hashlib.sha256(password.encode()).hexdigest() not in stored
    # The same form sent again with another password is the same submission: a repeat, not a second user.
    again = admin.post("/users", data=data | {"password": "another-pw-long-88"})
    assert again.status_code == 302 and _count(session, User.id, User.username == "twice-nurse") == 1


def test_a_product_added_twice_is_added_once(browser_client, world, session):
    manager = browser_client("manager")
    data = page_form(manager, "/catalog/new", "/catalog/new") | {
        "name": "Restylane Kysse 1 mL", "brand": "Restylane", "kind": "filler", "form": "gel", "base_unit": "mL",
        "volume_ml": "1", "gprime_category": "medium", "gtins": "5901234123457", "is_active": "y"}
    first = twice(manager, "/catalog/new", data)
    assert first.location.startswith("/catalog#product-")
    assert _count(session, Product.id, Product.name == "Restylane Kysse 1 mL") == 1


def test_a_location_added_twice_is_added_once(browser_client, world, session):
    manager = browser_client("manager")
    data = page_form(manager, "/locations", "/locations") | {
        "clinic_id": str(world.clinic.id), "name": "Fridge 2", "kind": "fridge", "temperature_sensitive": "y"}
    twice(manager, "/locations", data)
    assert _count(session, Location.id, Location.name == "Fridge 2") == 1


def test_a_clinic_opened_twice_is_opened_once(browser_client, world, session):
    admin = browser_client("admin")
    data = page_form(admin, "/clinics", "/clinics") | {
        "code": "PAR", "name": "Paris", "timezone": "Europe/Paris", "filler_hold_days": "0", "kit_warning_days": "30"}
    first = twice(admin, "/clinics", data)
    assert _count(session, Clinic.id, Clinic.code == "PAR") == 1
    assert first.location == f"/clinics/{session.scalar(select(Clinic.id).where(Clinic.code == 'PAR'))}"


def test_a_refused_user_corrected_with_the_same_form_is_added(browser_client, world, session):
    admin = browser_client("admin")
    form = page_form(admin, "/users", "/users")
    weak = admin.post("/users", data=form | {"username": "fixed-nurse", "role": "nurse", "password": "short",
                                             "clinic_ids": [str(world.clinic.id)]})
    assert weak.status_code == 422 and _count(session, IdempotencyRecord.id) == 0
    added = admin.post("/users", data=form | {"username": "fixed-nurse", "role": "nurse", "password": "long-enough-pw",
                                              "clinic_ids": [str(world.clinic.id)]})
    assert added.status_code == 302 and _count(session, User.id, User.username == "fixed-nurse") == 1
