"""A scanned box of a lot only another clinic holds or used answers exactly as a lot not on file (QA: the London
nurse's scan of New York's Hylenex lot gave its id, status and the safety lead's reason, and a box printed with
another expiry gave New York's expiry on file, while GET /lots found nothing). A recalled or quarantined lot is
still refused anywhere, saying only that; a watched lot still is `lot_suspect`. Chain-level users see all."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from inventory.models import AuditEvent
from recall import services as recall
from tests.api.conftest import error_code
from tests.factories import NOW, send_transfer

REASON = "NYC patient NY-100 vascular event under review"


def nyc_lot(world):
    return world.container("hylenex", lot="DEMOHYL03", expiry=dt.date(2027, 9, 30),
                           location=world.location("Fridge", world.other_clinic)).lot


def box(world, lot: str, expiry: str = "270930") -> str:
    return f"01{world.products['hylenex'].gtins[0].gtin}17{expiry}10{lot}"


def scanned(client, code: str):
    response = client.post("/scans", {"code": code})
    return response.status_code, response.get_json()


def test_the_qa_case_another_clinics_lot_scans_as_a_lot_not_on_file(api, world, session):
    lot = nyc_lot(world)
    nurse = api("nurse")  # London only
    assert nurse.get("/lots", query_string={"number": "DEMOHYL03"}).get_json()["lots"] == []
    status, body = scanned(nurse, box(world, "DEMOHYL03"))
    made_up_status, made_up = scanned(nurse, box(world, "NOSUCH01"))
    assert (status, body["lot_record"]) == (200, None)
    assert (status, body) == (made_up_status, made_up | {"lot": "DEMOHYL03"})
    # New York's nurse and the chain's safety lead read the lot on file.
    assert scanned(api("other_nurse"), box(world, "DEMOHYL03"))[1]["lot_record"]["id"] == lot.id
    assert scanned(api("safety"), box(world, "DEMOHYL03"))[1]["lot_record"]["id"] == lot.id


def test_a_box_printed_with_another_expiry_says_nothing_of_another_clinics_expiry(api, world, session):
    nyc_lot(world)
    nurse = api("nurse")
    status, body = scanned(nurse, box(world, "DEMOHYL03", expiry="290131"))
    made_up_status, made_up = scanned(nurse, box(world, "NOSUCH01", expiry="290131"))
    assert (status, body) == (made_up_status, made_up | {"lot": "DEMOHYL03"})
    assert (status, body["lot_record"]) == (200, None) and "2027" not in str(body)
    session.expire_all()
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_expiry_conflict")).all() == []
    # Where the lot is on file, the mismatch is the counterfeit sign it always was; receiving refuses it chain-wide.
    status, body = scanned(api("other_nurse"), box(world, "DEMOHYL03", expiry="290131"))
    assert (status, body["error"]["code"], body["error"]["details"]["expiry_on_file"]) == (
        409, "lot_expiry_conflict", "2027-09-30")


def test_another_clinics_quarantined_lot_is_refused_without_its_reason_or_id(api, world, session):
    lot = nyc_lot(world)
    recall.quarantine(session, actor=world.users["safety"], lot_id=lot.id, reason=REASON, now=NOW)
    session.flush()
    response = api("nurse").post("/scans", {"code": box(world, "DEMOHYL03")})
    assert (response.status_code, error_code(response)) == (409, "lot_quarantined")
    assert response.get_json()["error"] == {
        "code": "lot_quarantined",
        "message": "Lot DEMOHYL03 of Hylenex recombinant 150 USP U/mL is quarantined: do not use until a safety "
                   "lead releases it.",
        "details": {"lot_number": "DEMOHYL03"},
    }
    # Those who see the lot read why, as before.
    for who in ("other_nurse", "safety"):
        error = api(who).post("/scans", {"code": box(world, "DEMOHYL03")}).get_json()["error"]
        assert REASON in error["message"] and error["details"]["lot_id"] == lot.id


def test_another_clinics_recalled_lot_is_refused_without_its_id(api, world, session):
    lot = nyc_lot(world)
    recall.open_recall(session, actor=world.users["safety"], lot_ids=[lot.id], reason="manufacturer notice",
                       recall_class="I", source="manufacturer", now=NOW)
    session.flush()
    response = api("nurse").post("/scans", {"code": box(world, "DEMOHYL03")})
    assert (response.status_code, error_code(response)) == (409, "lot_recalled")
    assert response.get_json()["error"] == {
        "code": "lot_recalled", "message": "Lot DEMOHYL03 of Hylenex recombinant 150 USP U/mL is recalled: do not use.",
        "details": {"lot_number": "DEMOHYL03"},
    }
    assert api("safety").post("/scans", {"code": box(world, "DEMOHYL03")}).get_json()["error"]["details"] == {
        "lot_id": lot.id}


def test_a_watched_lot_is_refused_whoever_holds_it(api, world, session):
    nyc_lot(world)
    lead = api("safety")
    assert lead.post("/watchlist", {"gtin": world.products["hylenex"].gtins[0].gtin, "lot_number": "DEMOHYL03",
                                    "source": "alert"}).status_code == 201
    response = api("nurse").post("/scans", {"code": box(world, "DEMOHYL03")})
    assert (response.status_code, error_code(response)) == (409, "lot_suspect")


def test_a_lot_the_clinic_received_and_sent_away_is_still_its_own(api, world, session):
    sent = world.container("hylenex", lot="SENT01", expiry=dt.date(2027, 9, 30))
    send_transfer(world, [sent])  # to New York: London holds none of it now, but received it
    session.flush()
    status, body = scanned(api("nurse"), box(world, "SENT01"))
    assert (status, body["lot_record"]["id"]) == (200, sent.lot_id)
