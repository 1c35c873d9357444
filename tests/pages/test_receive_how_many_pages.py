"""The receiving page says what is wrong with How many (QA: 0 or 1.5 answered "This field is required.", its required
check putting its words over the field's own); the box scanned is kept while it is put right."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from inventory.models import Receipt
from tests.pages.conftest import csrf_token


def _box(world) -> str:
    return f"(01){world.botox.gtins[0].gtin}(17)281231(10)HOWMANY1"


def _form(world, client, **fields) -> dict:
    return {"code": _box(world), "location_id": str(world.location().id), "supplier_id": str(world.supplier.id),
            "csrf_token": csrf_token(client, "/receive")} | fields


def _errors(page: str) -> list[str]:
    return re.findall(r'<p class="field-error">([^<]*)</p>', page)


@pytest.mark.parametrize(("typed", "said"), [
    ("0", "How many: receive at least 1 and at most 500 at a time."),
    ("501", "How many: receive at least 1 and at most 500 at a time."),
    ("", "How many: type how many vials or syringes arrived."),
    ("1.5", "How many: type a whole number, such as 3."),
    ("-2", "How many: type a whole number, such as 3."),
])
def test_how_many_is_refused_in_its_own_words(browser_client, world, session, typed, said):
    client = browser_client("manager")
    response = client.post("/receive", data=_form(world, client, containers=typed))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _errors(page) == [said]
    assert "This field is required" not in page
    kept = re.search(r'<input type="hidden" name="scanned" value="([^"]*)">', page)
    assert kept and html.unescape(kept.group(1)) == _box(world)  # the box is kept while How many is put right
    assert session.scalars(select(Receipt)).all() == []
    received = client.post("/receive", data=_form(world, client, code="", scanned=_box(world), containers="2"))
    assert received.status_code == 302
    (receipt,) = session.scalars(select(Receipt)).all()
    assert receipt.container_count == 2
