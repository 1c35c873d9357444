"""A count's review lists the live stock the sheet does not cover; a container on hold there says so, in the words the
stock and container pages use ("on hold"), so the reviewer knows it is not usable stock."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from inventory.counts import service as counts
from inventory.services.permissions import Scope
from inventory.transfers import service as transfers
from inventory.transfers.models import RefusalCategory
from tests.factories import NOW, send_transfer

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)


def uncovered(html: str) -> list[str]:
    """The review's "not covered" lines, as read on the page (tags taken out)."""
    listed = html.split('<ul class="count-uncovered">')[1].split("</ul>")[0]
    return [re.sub(r"<[^>]+>", "", line).strip() for line in listed.split("<li>")[1:]]


def test_stock_back_on_hold_from_a_refused_transfer_is_listed_as_on_hold(browser_client, world, session):
    lon_manager, nyc_manager = world.users["clinic_manager"], world.nyc_manager()
    fridge = world.location()
    sent = world.receive("botox", lot="QA3B", containers=2, now=NOW - dt.timedelta(days=1)).containers
    (usable,) = world.receive("botox", lot="QA4C", now=NOW - dt.timedelta(days=1)).containers
    (counted,) = world.receive("botox", lot="QA5D", now=NOW - dt.timedelta(days=1)).containers
    # London sends two vials to New York, which refuses them for their temperature; London records their return.
    transfer = send_transfer(world, sent, user="clinic_manager", at=NOW - dt.timedelta(hours=3))
    transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager), transfer_id=transfer.id,
                     now=NOW - dt.timedelta(hours=2), reason="logger shows 14 °C",
                     category=RefusalCategory.TEMPERATURE)
    transfers.cancel(session, actor=lon_manager, scope=Scope.for_user(lon_manager), transfer_id=transfer.id,
                     now=NOW - dt.timedelta(hours=1))
    assert all(c.on_hold_since is not None and c.location_id == fridge.id for c in sent)
    count = counts.create_submitted(session, actor=lon_manager, scope=Scope.for_user(lon_manager),
                                    location_id=fridge.id, lines=[counts.LineSpec(container=counted.label_code)],
                                    now=NOW - dt.timedelta(minutes=5))
    session.flush()

    html = browser_client("manager").get(f"/counts/{count.id}").get_data(as_text=True)

    assert uncovered(html) == [
        *(f"Botox Cosmetic 100 U, lot QA3B, {c.label_code} (sealed, on hold)" for c in sorted(sent, key=lambda c: c.id)),
        f"Botox Cosmetic 100 U, lot QA4C, {usable.label_code} (sealed)",
    ]
    # The stock page's own mark of a held container, not another wording.
    assert html.count('<span class="status status-quarantined on-hold">on hold</span>') == 2


def test_the_review_says_which_line_posting_would_refuse_and_what_to_do(browser_client, world, session):
    """QA: three sealed vials counted where Vialog held two; the review showed "+100 U differs" and the refusal
    came only on Post, telling the reviewer to scan labels on a sheet they cannot scan on."""
    lon_manager = world.users["clinic_manager"]
    fridge = world.location()
    receipt = world.receive("botox", lot="QA6E", containers=2, now=NOW - dt.timedelta(days=1))
    count = counts.create_submitted(session, actor=lon_manager, scope=Scope.for_user(lon_manager),
                                    location_id=fridge.id, lines=[counts.LineSpec(lot_id=receipt.lot.id, containers=3)],
                                    now=NOW - dt.timedelta(minutes=5))
    session.flush()

    html = browser_client("manager").get(f"/counts/{count.id}").get_data(as_text=True)

    refused = html.split('<tr class="count-line-refused">')[1].split("</tr>")[0]
    assert "Posting will refuse this line: 3 sealed Botox Cosmetic 100 U of lot QA6E were counted" in refused
    assert "Send the count back to the counter" in refused
