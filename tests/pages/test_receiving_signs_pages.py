"""The receiving page keeps its counterfeit signs for the safety lead and says so (QA: a box whose printed expiry
contradicts its lot, and a delivery from a stopped supplier, were refused at /receive but never listed under "Signs
for the safety lead"), once per form however often it is sent; and a box refused for itself says so before "choose
the supplier" (QA: a watched lot scanned first only said "Supplier: Choose who delivered this box.")."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.models import AuditEvent, Container, Lot, Receipt
from tests.factories import NOW

_FLASH = re.compile(r'<div class="flash flash-error"[^>]*\bdata-code="([^"]+)"[^>]*>(.*?)</div>', re.DOTALL)
_HIDDEN = r'<input[^>]*\bname="{}"[^>]*\bvalue="([^"]*)"|<input[^>]*\bvalue="([^"]*)"[^>]*\bname="{}"'
TOLD = "The safety lead is told (Signs on the watch list)."
CONFLICT = ("Lot DEMOBTX01 of Botox Cosmetic 100 U is on file with expiry 28 Apr 2028, not 28 May 2028. Check the box: "
            "a mismatch can mean a counterfeit.")


def box(world, lot: str = "DEMOBTX01") -> str:
    """QA's box: expiry 28 May 2028, serial PKX9001, as a scanner types it (GS as "|")."""
    return f"]d201{world.botox.gtins[0].gtin}17280528" f"10{lot}|21PKX9001"


def hidden(page: str, name: str) -> str:
    match = re.search(_HIDDEN.format(name, name), page)
    assert match, f"no {name} on the page"
    return html.unescape(match.group(1) or match.group(2))


def receive_form(world, client, **fields) -> dict:
    """The receiving form as the page gives it (its CSRF token and one-time form key), filled in."""
    page = client.get("/receive").get_data(as_text=True)
    return {"containers": "1", "location_id": str(world.location().id), "supplier_id": str(world.supplier.id),
            "csrf_token": hidden(page, "csrf_token"), "form_key": hidden(page, "form_key")} | fields


def flashed(response) -> tuple[str, str]:
    ((code, message),) = _FLASH.findall(response.get_data(as_text=True))
    return code, " ".join(html.unescape(message).split())


def watchlist_text(client) -> str:
    """The watch-list page as read: its words, without tags."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", client.get("/watchlist").get_data(as_text=True))).split())


def signs(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def stock(session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.scalar(select(func.count(model.id))) for model in (Lot, Receipt, Container))


def test_the_qa_case_the_expiry_conflict_is_told_to_the_safety_lead_once_per_form(browser_client, world, session):
    world.receive("botox", lot="DEMOBTX01", expiry=dt.date(2028, 4, 28), now=NOW)
    before = stock(session)
    client = browser_client("manager")
    form = receive_form(world, client, code=box(world))
    for _ in range(2):  # pressed twice, or sent again after the refusal: one sighting
        refused = client.post("/receive", data=form)
        assert refused.status_code == 409
        assert flashed(refused) == ("lot_expiry_conflict", f"{CONFLICT} {TOLD}")
    assert stock(session) == before
    (sign,) = signs(session, "lot.flagged_expiry_conflict")
    assert (sign.actor_id, sign.clinic_id) == (world.users["manager"].id, world.clinic.id)
    assert (sign.details["where"], sign.details["location"], sign.details["code"], sign.details["serial"]) == (
        "receiving", "Fridge", box(world), "PKX9001")
    # The form shown again keeps its key, so pressing Receive on it is the same form; a new form is another sighting.
    again = client.post("/receive", data=receive_form(world, client, code=box(world)))
    assert flashed(again) == ("lot_expiry_conflict", f"{CONFLICT} {TOLD}")
    assert len(signs(session, "lot.flagged_expiry_conflict")) == 2
    # The safety lead reads it where /watchlist promises it.
    page = watchlist_text(browser_client("safety"))
    assert "Box expiry contradicts its lot" in page
    assert "lot DEMOBTX01: box says 2028-05-28, on file 2028-04-28" in page
    assert "Clinic LON · receiving into Fridge · manager" in page


def test_a_typed_expiry_that_differs_is_not_told(browser_client, world, session):
    world.receive("botox", lot="DEMOBTX01", expiry=dt.date(2028, 4, 28), now=NOW)
    client = browser_client("manager")
    refused = client.post("/receive", data=receive_form(world, client, gtin=world.botox.gtins[0].gtin,
                                                        lot="DEMOBTX01", expiry="2028-05-28"))
    assert flashed(refused) == ("lot_expiry_conflict", CONFLICT)
    assert signs(session, "lot.flagged_expiry_conflict") == []


def test_a_stopped_supplier_is_told_to_the_safety_lead(browser_client, world, session):
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    before = stock(session)
    client = browser_client("manager")
    form = receive_form(world, client, code=box(world, lot="NEWLOT1"), supplier_id=str(grey.id))
    for _ in range(2):
        refused = client.post("/receive", data=form)
        assert refused.status_code == 409
        code, message = flashed(refused)
        assert code == "supplier_not_authorised"
        assert message.startswith("Grey market is not an authorised supplier: do not take this delivery in")
        assert message.endswith(TOLD)
        assert 'name="scanned"' in refused.get_data(as_text=True)  # the box was fine: kept for another supplier
    assert stock(session) == before
    (sign,) = signs(session, "lot.flagged_unauthorised_supplier")
    assert (sign.details["supplier"], sign.details["lot_number"], sign.details["product"]) == (
        "Grey market", "NEWLOT1", "Botox Cosmetic 100 U")
    page = watchlist_text(browser_client("safety"))
    assert ("Delivery from a supplier that is not authorised Botox Cosmetic 100 U lot NEWLOT1 serial PKX9001, "
            "delivered by Grey market") in page


def test_a_watched_lot_scanned_before_choosing_the_supplier_is_refused_as_watched(browser_client, world, session):
    counterfeit.watch(session, actor=world.users["safety"], product_id=world.botox.id, lot_number="FAKE1",
                      source="Regulator alert 9", now=NOW)
    client = browser_client("manager")
    watched = client.post("/receive", data=receive_form(world, client, code=box(world, lot="FAKE1"), supplier_id="0"))
    assert watched.status_code == 409
    code, message = flashed(watched)
    assert code == "lot_suspect" and "on the counterfeit watch list" in message and "Set the box aside" in message
    assert message.endswith(TOLD) and "Choose who delivered this box." not in watched.get_data(as_text=True)
    assert len(signs(session, "lot.flagged_suspect")) == 1
    # So is a box whose expiry contradicts its lot.
    world.receive("botox", lot="DEMOBTX01", expiry=dt.date(2028, 4, 28), now=NOW)
    form = receive_form(world, client, code=box(world))
    del form["supplier_id"]
    conflict = client.post("/receive", data=form)
    assert flashed(conflict) == ("lot_expiry_conflict", f"{CONFLICT} {TOLD}")
    # A box that is fine still asks for its supplier, and is kept for it.
    missing = client.post("/receive", data=receive_form(world, client, code=box(world, lot="GOOD1"), supplier_id="0"))
    assert missing.status_code == 422
    assert flashed(missing) == ("validation_error", "Choose who delivered this box.")
    assert 'name="scanned"' in missing.get_data(as_text=True)
