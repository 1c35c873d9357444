"""The QA report over the API: a lot still on the counterfeit watch list is not released; the safety lead takes
it off the list with a reason (``POST /watchlist/<id>/remove`` or ``DELETE /watchlist/<id>``), then releases it,
and the container's label and the box code agree all along."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.counterfeit.models import WatchedLot
from inventory.models import AuditEvent, Lot, LotStatus
from tests.api.conftest import error_code
from tests.factories import World


def box_code(world: World, lot: str) -> str:
    return f"]d201{world.botox.gtins[0].gtin}17270331" f"10{lot}"  # the expiry of the lot on file (world.receive)


def test_a_watched_lot_is_released_only_once_taken_off_the_watch_list_with_a_reason(api, world, session):
    vial = world.container("botox", lot="XE77812")
    lead, nurse = api("safety"), api("nurse")
    watched = lead.post("/watchlist", {"gtin": world.botox.gtins[0].gtin, "lot_number": " xe77812 ",
                                       "source": "FDA alert"})
    assert watched.status_code == 201
    entry = watched.get_json()
    assert [(lot["id"], lot["status"]) for lot in entry["quarantined_lots"]] == [(vial.lot_id, "quarantined")]

    refused = lead.post(f"/lots/{vial.lot_id}/release", {"reason": "supplier confirmed genuine"})
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect")
    error = refused.get_json()["error"]
    assert error["message"] == (
        "Lot XE77812 of Botox Cosmetic 100 U is on the counterfeit watch list (FDA alert): it stays quarantined. "
        "Take it off the watch list first, saying why, then release it.")
    assert error["details"]["watched_lot_id"] == entry["id"] and error["details"]["lot_id"] == vial.lot_id
    # The label and the box code agree: neither is usable.
    label = nurse.post("/scans", {"code": vial.label_code})
    assert (label.status_code, error_code(label)) == (409, "lot_quarantined")
    box = nurse.post("/scans", {"code": box_code(world, "XE77812")})
    assert (box.status_code, error_code(box)) == (409, "lot_suspect")
    mixed = nurse.post(f"/containers/{vial.id}/reconstitute", {"diluent_ml": "2.5"})
    assert (mixed.status_code, error_code(mixed)) == (409, "lot_quarantined")

    # Only the safety lead or an admin takes it off, and only with a reason.
    assert api("manager").post(f"/watchlist/{entry['id']}/remove", {"reason": "x"}).status_code == 403
    assert nurse.post(f"/watchlist/{entry['id']}/remove", {"reason": "x"}).status_code == 403
    for body in ({}, {"reason": "   "}):
        blank = lead.post(f"/watchlist/{entry['id']}/remove", body)
        assert (blank.status_code, error_code(blank)) == (422, "validation_error")
    session.expire_all()
    assert session.get(WatchedLot, entry["id"]) is not None

    removed = lead.post(f"/watchlist/{entry['id']}/remove", {"reason": "Allergan confirmed the lot genuine"})
    assert removed.status_code == 200
    body = removed.get_json()
    assert (body["id"], body["reason"]) == (entry["id"], "Allergan confirmed the lot genuine")
    assert [(lot["id"], lot["status"]) for lot in body["quarantined_lots"]] == [(vial.lot_id, "quarantined")]
    session.expire_all()
    assert session.scalar(select(func.count(WatchedLot.id))) == 0
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.removed"))
    assert (event.details["reason"], event.actor_id) == ("Allergan confirmed the lot genuine",
                                                          world.users["safety"].id)
    again = lead.post(f"/watchlist/{entry['id']}/remove", {"reason": "twice"})
    assert (again.status_code, error_code(again)) == (404, "not_found")

    released = lead.post(f"/lots/{vial.lot_id}/release", {"reason": "supplier confirmed genuine"})
    assert released.status_code == 200 and released.get_json()["status"] == "active"
    assert nurse.post("/scans", {"code": vial.label_code}).status_code == 200
    assert nurse.post("/scans", {"code": box_code(world, "XE77812")}).status_code == 200
    assert nurse.post(f"/containers/{vial.id}/reconstitute", {"diluent_ml": "2.5"}).status_code == 200


def test_delete_takes_an_entry_off_the_watch_list_with_its_reason_on_record(api, world, session):
    vial = world.container("botox", lot="DEL1")
    lead = api("admin")
    entry = lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": "del1", "source": "s"}).get_json()

    def delete(body=None):
        return lead.client.delete(f"/api/v1/watchlist/{entry['id']}", headers=lead._headers(None),
                                  json=body)

    assert lead.post(f"/lots/{vial.lot_id}/release", {"reason": "ok"}).status_code == 409  # still watched
    assert delete({"reason": "entered for the wrong product"}).status_code == 204
    assert delete({"reason": "again"}).status_code == 404
    session.expire_all()
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.removed"))
    assert event.details["reason"] == "entered for the wrong product"
    assert session.get(Lot, vial.lot_id).status is LotStatus.QUARANTINED  # a removal never releases by itself
    assert lead.post(f"/lots/{vial.lot_id}/release", {"reason": "ok"}).status_code == 200


def test_watch_list_refusals_name_the_lot_in_upper_case(api, world):
    lead, manager = api("safety"), api("manager")
    lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": " xe77812 ", "source": "FDA alert"})
    refused = manager.post("/receipts", {"gtin": world.botox.gtins[0].gtin, "lot": "xe77812",
                                         "expiry": "2028-12-31", "containers": 1, "location_id": world.location().id})
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect")
    assert refused.get_json()["error"]["message"].startswith("Lot XE77812 of Botox Cosmetic 100 U is on the "
                                                             "counterfeit watch list (FDA alert)")
    duplicate = lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": "XE77812", "source": "x"})
    assert duplicate.get_json()["error"]["message"] == "Lot XE77812 of Botox Cosmetic 100 U is on the watch list " \
                                                       "already."


def test_the_openapi_document_asks_a_reason_to_take_an_entry_off(api, world):
    document = api().get("/openapi.json").get_json()
    # .../remove requires the reason; the contract's DELETE takes it but, carrying no body there, cannot require it.
    for path, method, required in (("/api/v1/watchlist/{entry_id}/remove", "post", ["reason"]),
                                   ("/api/v1/watchlist/{entry_id}", "delete", [])):
        operation = document["paths"][path][method]
        assert operation["x-vialog-permission"] == "recall"
        name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert document["components"]["schemas"][name].get("required", []) == required
