"""The lot trace through the API says a container went back to its supplier, as its page does: ``empty`` alone
read as used up to an integration listing where a recalled lot's stock went."""

from __future__ import annotations

import pytest

from inventory.receiving import returns
from inventory.services.permissions import Scope
from tests.factories import NOW, draw, reconstitute, start_treatment
from tests.pages.test_receipt_return_pages import SUPPLIER, delivered

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_a_returned_container_says_so_and_one_used_up_is_plain_empty(api, world, session):
    receipt = delivered(world, session)
    back, used, kept = receipt.containers
    manager = world.users["clinic_manager"]
    returns.return_to_supplier(session, actor=manager, scope=Scope.for_user(manager), receipt_id=receipt.id,
                               reason="damaged", now=NOW, container_ids=[back.id])
    reconstitute(world, used)
    draw(world, start_treatment(world, "P-1"), used, "100", confirm=("above_label_max", "above_cumulative_limit"),
         confirm_reason="test: the whole vial")
    session.flush()

    trace = api("safety").get(f"/lots/{back.lot_id}/trace")

    assert trace.status_code == 200
    lines = {c["id"]: c for c in trace.get_json()["containers"]}
    assert (lines[back.id]["state"], lines[back.id]["returned"]) == ("empty", f"returned to {SUPPLIER}: damaged")
    assert (lines[used.id]["state"], lines[used.id]["returned"]) == ("empty", None)
    assert (lines[kept.id]["state"], lines[kept.id]["returned"]) == ("sealed", None)


def test_a_recall_case_says_which_of_its_containers_went_back(api, world, session):
    from tests.api.test_set_aside_waste_api import open_recall

    receipt = delivered(world, session, containers=2)
    back, kept = receipt.containers
    case = open_recall(api, back.lot_id)
    assert api("safety").patch(f"/recalls/{case['id']}/containers/{back.id}",
                               {"status": "returned"}).status_code == 200

    lines = {c["container_id"]: c for c in api("safety").get(f"/recalls/{case['id']}").get_json()["containers"]}

    assert lines[back.id]["returned"] == f"returned to the supplier (recall case {case['id']})"
    assert lines[kept.id]["returned"] is None
