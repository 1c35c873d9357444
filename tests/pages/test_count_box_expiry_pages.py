"""QA: a box whose printed expiry is not that of its lot on file (a counterfeit sign: the cart's scan and receiving
refuse it) was counted on a count sheet as that lot's sealed stock, and nobody was told. The count sheet refuses it
with the scan's words and code (lot_expiry_conflict), adds nothing to the sheet, and keeps the sign for the safety
lead; a box code with the lot's own expiry, or none, is counted as before."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from inventory.counts import service as counts
from inventory.counts.models import CountLine
from inventory.counts.service import LineSpec
from inventory.models import AuditEvent
from inventory.services.permissions import Scope
from tests.factories import NOW, refusal
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

LOT = "QA7711X"  # received with the factories' expiry, 31 Mar 2027


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)


def _box(world, expiry: str | None) -> str:
    return f"(01){world.botox.gtins[0].gtin}" + (f"(17){expiry}" if expiry else "") + f"(10){LOT}"


def test_a_box_with_another_expiry_than_its_lot_is_not_counted(world, session):
    world.receive("botox", lot=LOT, containers=3)
    user = world.users["clinic_manager"]
    count = counts.start_count(session, actor=user, scope=Scope.for_user(user),
                               location_id=world.location().id, now=NOW)

    def add(code: str):
        return counts.add_line(session, actor=user, scope=Scope.for_user(user), count_id=count.id,
                               spec=LineSpec(code=code, containers=3), now=NOW)

    error = refusal(lambda: add(_box(world, "290331")))
    assert error.code == "lot_expiry_conflict"
    assert error.message == ("This box says expiry 31 Mar 2029 but lot QA7711X is on file with 31 Mar 2027: do not "
                             "use it; set it aside for the safety lead.")
    assert (error.details["expiry_on_file"], error.details["expiry_given"]) == ("2027-03-31", "2029-03-31")
    assert count.lines == []
    assert add(_box(world, "270331")).containers_counted == 3  # its own expiry
    assert add(_box(world, None)).containers_counted == 3  # no expiry printed: nothing contradicts the lot


def test_the_count_sheet_refuses_it_and_the_safety_lead_is_told(browser_client, world, session):
    world.receive("botox", lot=LOT, containers=3)
    session.flush()
    client = browser_client("clinic_manager")
    token = csrf_token(client, "/counts")
    started = client.post("/counts", data={"location_id": world.location().id, "csrf_token": token})
    url = started.headers["Location"]

    refused = client.post(f"{url}/lines", data={"code": _box(world, "290331"), "containers": "3",
                                                "csrf_token": token})

    assert refused.status_code == 409
    page = html.unescape(refused.get_data(as_text=True))
    assert "This box says expiry 31 Mar 2029 but lot QA7711X is on file with 31 Mar 2027" in page
    session.expire_all()
    assert list(session.scalars(select(CountLine))) == []
    (sign,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_expiry_conflict"))
    assert sign.details["where"] == "count" and sign.details["expiry_given"] == "2029-03-31"
    assert sign.clinic_id == world.clinic.id
