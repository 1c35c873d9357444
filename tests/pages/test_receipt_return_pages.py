"""The receipt page's "Return to the supplier" (QA: a new clinic's only manager received the wrong box and the page
offered no way back): the containers still as they arrived are ticked and sent back with a reason; a refusal keeps
what was chosen; the page says what went back, and the container page of one returned says so. A container no longer
sealed says how to correct it (a count)."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
from sqlalchemy import func, select

from inventory.models import Movement, MovementKind
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.factories import NOW, reconstitute
from tests.pages.test_cart_form_once_pages import page_form

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

SUPPLIER = "Allergan Aesthetics (direct)"


def delivered(world, session, containers: int = 3):
    manager = world.users["clinic_manager"]
    receipt = receiving.receive(
        session, actor=manager, scope=Scope.for_user(manager), location_id=world.location().id,
        containers=containers, now=NOW, gtin=world.botox.gtins[0].gtin, lot_number="WRONGBOX3",
        expiry=dt.date(2028, 12, 31), supplier_id=world.supplier.id)
    session.flush()
    return receipt


def returned_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.RETURN))


def text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def row(html: str, label: str) -> str:
    match = re.search(rf'<tr data-label="{label}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for {label}"
    return match.group(0)


def test_the_only_manager_returns_the_wrong_box_from_its_receipt(browser_client, world, session):
    receipt = delivered(world, session)
    first, second, opened = receipt.containers
    reconstitute(world, opened)
    session.flush()
    client = browser_client("clinic_manager")
    path, action = f"/receipts/{receipt.id}", f"/receipts/{receipt.id}/return"

    page = client.get(path).get_data(as_text=True)
    assert "Return to the supplier" in page and "Return all 2 still sealed" in page
    assert 'name="container_ids" value="%d"' % first.id in page
    assert 'name="container_ids" value="%d"' % opened.id not in page
    assert "correct it with a count of Fridge (Counts: another manager or an admin posts it)" in text(
        row(page, opened.label_code))

    # No reason chosen: refused, with what was ticked and typed kept, the reason marked.
    form = page_form(client, path, action)
    sent = form | {"container_ids": [str(second.id)], "reason": "", "note": "delivery note 4471", "which": "chosen"}
    refused = client.post(action, data=sent)
    assert refused.status_code == 422
    again = refused.get_data(as_text=True)
    assert 'data-code="validation_error"' in again and "Choose why it goes back" in again
    assert re.search(rf'value="{second.id}" id="return-{second.id}" checked', again)
    assert not re.search(rf'value="{first.id}" id="return-{first.id}" checked', again)
    assert 'value="delivery note 4471"' in again
    assert re.search(r'<select id="return-reason" name="reason" aria-invalid="true"', again)
    assert returned_count(session) == 0

    # Corrected on the same form: the ticked container goes back, and the page says so in words.
    done = client.post(action, data=sent | {"reason": "wrong_product"})
    assert done.status_code == 302 and done.location.endswith(f"/receipts/{receipt.id}#returns")
    after = client.get(done.location).get_data(as_text=True)
    assert (f"Returned 1 × Botox Cosmetic 100 U ({second.label_code}) to {SUPPLIER}: wrong product (delivery note "
            "4471).") in text(after)
    assert f"1 of 3 returned to {SUPPLIER}" in text(after)
    assert f"Returned to {SUPPLIER}: wrong product (delivery note 4471), " in text(row(after, second.label_code))
    assert "was in Fridge" in text(row(after, second.label_code))
    assert f'alt="Label {second.label_code}"' not in after  # its label is left off the sheet
    assert returned_count(session) == 1

    # Its container page says where it went.
    container_page = text(client.get(f"/containers/{second.label_code}").get_data(as_text=True))
    container_page = client.get(f"/containers/{second.label_code}").get_data(as_text=True)
    state = re.search(r'<dd id="state">(.*?)</dd>', container_page, re.S).group(1)
    assert re.fullmatch(rf"returned to {re.escape(SUPPLIER)}: wrong product \(delivery note 4471\), [0-9]+ \w+ "
                        rf"[0-9]{{4}} [0-9:]{{5}} by lon-manager \(receipt {receipt.id}\)", re.sub(r"<[^>]+>", "", state)), state
    assert f'href="/receipts/{receipt.id}"' in state
    where = re.search(r'<dd id="where">(.*?)</dd>', container_page, re.S).group(1)
    assert text(where).strip() == "gone back to the supplier from LON · Fridge"
    assert f"returned to {SUPPLIER}: wrong product (delivery note 4471)" in text(container_page.split("<h2>History")[1])

    # "Return all" sends back what is left that may go.
    form = page_form(client, path, action)
    assert "Return the one still sealed" in client.get(path).get_data(as_text=True)
    rest = client.post(action, data=form | {"reason": "not_ordered", "which": "all"}, follow_redirects=True)
    assert f"Returned 1 × Botox Cosmetic 100 U ({first.label_code}) to {SUPPLIER}: not ordered." in text(
        rest.get_data(as_text=True))
    assert returned_count(session) == 2


def test_a_refusal_of_a_container_names_it_and_keeps_the_choice(browser_client, world, session):
    receipt = delivered(world, session, 2)
    first, second = receipt.containers
    client = browser_client("clinic_manager")
    path, action = f"/receipts/{receipt.id}", f"/receipts/{receipt.id}/return"
    form = page_form(client, path, action)
    reconstitute(world, second)  # opened meanwhile, at the cart
    session.flush()

    refused = client.post(action, data=form | {"container_ids": [str(first.id), str(second.id)],
                                               "reason": "damaged", "which": "chosen"})

    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert 'id="return-refusal" data-code="container_opened"' in page
    assert f"({second.label_code}) was reconstituted since it arrived" in text(page)
    assert re.search(rf'value="{first.id}" id="return-{first.id}" checked', page)
    assert '<option value="damaged" selected>' in page
    assert returned_count(session) == 0


def test_a_nurse_may_not_return(browser_client, world, session):
    receipt = delivered(world, session, 1)
    client = browser_client("nurse")
    assert client.post(f"/receipts/{receipt.id}/return", data={"reason": "damaged"}).status_code in (400, 403)
    assert returned_count(session) == 0
