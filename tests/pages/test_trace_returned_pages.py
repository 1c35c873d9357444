"""A container sent back to its supplier (a receipt's return to the supplier, or a recall's return) is ``empty`` on
the shelf it left from: the lot trace says it went back, as the container page does ("returned to Allergan
Aesthetics (direct): wrong product", "returned to the supplier (recall case 3)"), and where from, rather than leave
the safety lead to think it was used up; the recall case's Where says it too. One used up still reads "empty"."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inventory.models import Container, ContainerState
from inventory.receiving import returns
from inventory.services.permissions import Scope
from tests.api.conftest import api  # noqa: F401  (the recall is opened and settled through the API)
from tests.api.test_set_aside_waste_api import open_recall
from tests.factories import NOW, draw, reconstitute, start_treatment
from tests.pages.test_receipt_return_pages import SUPPLIER, delivered, text

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def cells(html: str, row_id: str) -> list[str]:
    match = re.search(rf'<tr id="{row_id}".*?</tr>', html, re.S)
    assert match is not None, f"no row {row_id}"
    return [text(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", match.group(0), re.S)]


def test_the_trace_says_a_container_went_back_to_its_supplier_not_empty(api, browser_client, world, session):  # noqa: F811
    receipt = delivered(world, session)
    back, used, recalled = receipt.containers
    manager = world.users["clinic_manager"]
    returns.return_to_supplier(session, actor=manager, scope=Scope.for_user(manager), receipt_id=receipt.id,
                               reason="wrong_product", now=NOW, container_ids=[back.id])
    reconstitute(world, used)
    draw(world, start_treatment(world, "P-1"), used, "100", confirm=("above_label_max", "above_cumulative_limit"),
         confirm_reason="test: the whole vial")
    session.flush()
    case = open_recall(api, back.lot_id)
    settled = api("safety").patch(f"/recalls/{case['id']}/containers/{recalled.id}", {"status": "returned"})
    assert settled.status_code == 200, settled.get_json()
    session.expire_all()
    assert [c.state for c in session.scalars(select(Container).where(Container.lot_id == back.lot_id)
                                             .order_by(Container.id))] == [ContainerState.EMPTY] * 3

    safety = browser_client("safety")
    trace = safety.get(f"/trace/lots/{back.lot_id}").get_data(as_text=True)
    # Label, Where, State, Left
    assert cells(trace, f"trace-container-{back.id}") == [
        back.label_code, "gone back to the supplier from Fridge", f"returned to {SUPPLIER}: wrong product", "0 U"]
    assert cells(trace, f"trace-container-{recalled.id}") == [
        recalled.label_code, "gone back to the supplier from Fridge",
        f"returned to the supplier (recall case {case['id']})", "0 U"]
    assert cells(trace, f"trace-container-{used.id}") == [used.label_code, "Fridge", "empty", "0 U"]

    case_page = safety.get(f"/recalls/{case['id']}").get_data(as_text=True)
    line = re.search(rf'<tr id="container-{recalled.id}".*?</tr>', case_page, re.S).group(0)
    assert "gone back to the supplier from LON · Fridge" in text(line)
