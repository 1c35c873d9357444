"""The adverse event page sends a chain-level manager to the product page to add a manufacturer not on file: the
page has the field, the save is audited, and GET /api/v1/products and the event's report read it back."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

from sqlalchemy import select

from inventory.models import AuditEvent, Product
from inventory.services import auth
from tests.factories import NOW
from tests.pages.conftest import csrf_token
from tests.pages.test_adverse_event_rescue_pages import section
from tests.pages.test_adverse_event_seriousness_pages import recorded, report_text

NOT_ON_FILE = "manufacturer not on file: add it in the catalog"


class _FormReader(HTMLParser):
    """The values a browser would post for the page's product form, as the page fills it in."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and (a.get("type") not in ("checkbox", "radio") or "checked" in a):
            self.values.setdefault(name, []).append(a.get("value") or ("y" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((a.get("value") or "", "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.values[self._select] = chosen
            self._select = None


def page_form(client, path: str, **changes: str) -> dict[str, list[str]]:
    html = client.get(path).get_data(as_text=True)
    start = html.index(f'<form method="post" action="{path}"')
    form = html[start:html.index("</form>", start)]
    reader = _FormReader()
    reader.feed(form)
    return reader.values | {name: [value] for name, value in changes.items()}


def api_get(app, session, user, path: str):
    token, _ = auth.issue_token(session, user, hours=24 * 365 * 20, now=NOW)
    session.flush()
    return app.test_client().get("/api/v1" + path, headers={"Authorization": f"Bearer {token}"})


def catalog_manufacturer(app, session, world, product: Product) -> str | None:
    response = api_get(app, session, world.users["nurse"], "/products")
    assert response.status_code == 200, response.get_json()
    (shown,) = [p for p in response.get_json()["products"] if p["id"] == product.id]
    return shown["manufacturer"]


def test_an_admin_follows_the_event_page_to_the_product_and_sets_its_manufacturer(app, browser_client, world,
                                                                                  session):
    client, event = recorded(browser_client, world, session)
    world.filler.manufacturer = ""
    session.flush()
    admin = browser_client("admin")  # a chain-level admin reads the event; a manager edits the catalog too
    linked = section(admin.get(f"/adverse-events/{event.id}").get_data(as_text=True), "linked")
    edit = f"/catalog/{world.filler.id}/edit"
    assert f'href="{edit}"' in linked and NOT_ON_FILE in linked
    assert catalog_manufacturer(app, session, world, world.filler) is None

    page = admin.get(edit).get_data(as_text=True)
    assert '<input id="p-manufacturer" maxlength="120" name="manufacturer" type="text" value="">' in page
    assert '<label for="p-manufacturer">Manufacturer (as on the label)</label>' in page
    saved = admin.post(edit, data=page_form(admin, edit, manufacturer="  Allergan Aesthetics  "))

    assert saved.status_code == 302, saved.get_data(as_text=True)
    session.expire_all()
    assert session.get(Product, world.filler.id).manufacturer == "Allergan Aesthetics"
    assert 'value="Allergan Aesthetics"' in admin.get(edit).get_data(as_text=True)
    assert catalog_manufacturer(app, session, world, world.filler) == "Allergan Aesthetics"
    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)
    assert "Allergan Aesthetics" in section(html, "linked") and NOT_ON_FILE not in html
    assert "Product 1 manufacturer: Allergan Aesthetics\n" in report_text(html)
    report = api_get(app, session, world.users["nurse"], f"/adverse-events/{event.id}/report.csv")
    assert [row["manufacturer"] for row in csv.DictReader(io.StringIO(report.get_data(as_text=True)))] == \
        ["Allergan Aesthetics"]
    audit = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "product.changed", AuditEvent.object_id == str(world.filler.id))).all()
    assert [e.details["manufacturer"] for e in audit] == [{"from": "", "to": "Allergan Aesthetics"}]
    assert audit[0].actor_id == world.users["admin"].id


def test_the_manufacturer_field_takes_plain_text_only_and_keeps_the_form(app, browser_client, world, session):
    before = world.filler.manufacturer
    manager = browser_client("manager")
    edit = f"/catalog/{world.filler.id}/edit"

    # The request guard lets line breaks through (notes take them): the field, one line of plain text, does not.
    for typed, says in (("Allergan\nAesthetics", "Manufacturer: contains the invisible character U+000A (this field "
                                                 "takes one line)"), ("A" * 121, "120 characters")):
        refused = manager.post(edit, data=page_form(manager, edit, manufacturer=typed))
        assert refused.status_code == 422
        html = refused.get_data(as_text=True)
        assert '<p class="field-error">' in html and says in html

    session.expire_all()
    assert session.get(Product, world.filler.id).manufacturer == before
    assert catalog_manufacturer(app, session, world, world.filler) == before


def test_a_manager_clears_the_manufacturer_and_the_report_says_it_is_not_on_file(app, browser_client, world,
                                                                                 session):
    client, event = recorded(browser_client, world, session)
    manager = browser_client("manager")
    edit = f"/catalog/{world.filler.id}/edit"
    assert f'value="{world.filler.manufacturer}"' in manager.get(edit).get_data(as_text=True)

    assert manager.post(edit, data=page_form(manager, edit, manufacturer=" ")).status_code == 302

    session.expire_all()
    assert catalog_manufacturer(app, session, world, world.filler) is None
    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)
    assert f"Product 1 manufacturer: {NOT_ON_FILE}" in report_text(html)


def test_a_save_that_does_not_post_the_field_leaves_the_manufacturer(browser_client, world, session):
    """A form from before the field (an open tab) says nothing of the manufacturer: it keeps what is on file."""
    before = world.filler.manufacturer
    manager = browser_client("manager")
    edit = f"/catalog/{world.filler.id}/edit"
    data = page_form(manager, edit, brand="Juvederm")
    del data["manufacturer"]

    assert manager.post(edit, data=data).status_code == 302

    session.expire_all()
    assert session.get(Product, world.filler.id).manufacturer == before != ""


def test_a_product_added_on_the_page_with_its_manufacturer_is_in_the_catalog_answer(app, browser_client, world,
                                                                                  session):
    manager = browser_client("manager")
    form = {"name": "Restylane Kysse 1 mL", "brand": "Restylane", "manufacturer": "Galderma", "kind": "filler",
            "form": "gel", "base_unit": "mL", "volume_ml": "1", "gtins": "5901234123457", "is_active": "y",
            "csrf_token": csrf_token(manager, "/catalog/new")}

    assert manager.post("/catalog/new", data=form).status_code == 302

    session.expire_all()
    product = session.scalar(select(Product).where(Product.name == "Restylane Kysse 1 mL"))
    assert product.manufacturer == "Galderma"
    assert catalog_manufacturer(app, session, world, product) == "Galderma"
