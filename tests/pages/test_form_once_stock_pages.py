"""Every page form that writes stock or opens a record records once, however often it reaches the server: receiving,
a transfer sent, received or refused, a count started or its line added, a kit restocked or checked, a held
container wasted, an excursion recorded, an adverse event reported, a recall opened, a lot quarantined.

As in test_cart_form_once_pages.py, each test posts what the page rendered (its one-time form_key) twice, as a
second click or a browser's retry would: the second records nothing and lands where the first did. A refused
submit keeps its key good for the corrected submit of the same form.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.adverse_events.models import AdverseEvent
from inventory.blueprints.pages.once import ALREADY_RECORDED
from inventory.cold_chain.models import Excursion
from inventory.counts.models import Count
from inventory.kits.models import KitCheck, KitTemplate
from inventory.models import (Container, ContainerState, IdempotencyRecord, LotStatus, Movement, MovementKind,
                              Receipt, utcnow)
from inventory.transfers.models import Transfer, TransferStatus
from recall.models import RecallCase
from tests.factories import NOW, draw, send_transfer, start_treatment
from tests.kit_factories import new_kit
from tests.pages.test_cart_form_once_pages import count, hidden, page_form

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    # As their own page tests do: kits and transfers are made by the factories at NOW.
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def twice(client, action: str, data: dict):
    """Posts ``data`` twice; asserts the second landed where the first did, saying it was sent twice."""
    first = client.post(action, data=data)
    assert first.status_code == 302, first.get_data(as_text=True)
    second = client.post(action, data=data)
    assert second.status_code == 302 and second.location == first.location
    landed = client.get(second.location).get_data(as_text=True)
    assert ALREADY_RECORDED in landed
    return first


def box(world, **extra) -> dict:
    return {"gtin": world.botox.gtins[0].gtin, "lot": "ONCE1", "expiry": "2028-12-31", "containers": "3",
            "location_id": str(world.location().id), "supplier_id": str(world.supplier.id)} | extra


# --- receiving --------------------------------------------------------------------------------------------------


def test_a_box_received_twice_puts_its_vials_in_the_fridge_once(browser_client, world, session):
    client = browser_client("manager")
    first = twice(client, "/receive", page_form(client, "/receive", "") | box(world))
    assert first.location.startswith("/receipts/")
    assert count(session, Receipt.id) == 1
    assert count(session, Container.id) == 3


def test_a_refused_receipt_corrected_with_the_same_form_is_received(browser_client, world, session):
    client = browser_client("manager")
    form = page_form(client, "/receive", "")
    no_supplier = client.post("/receive", data=form | box(world, supplier_id="999999"))  # the service refuses it
    assert no_supplier.status_code == 404
    assert hidden(no_supplier.get_data(as_text=True), "form_key") == form["form_key"]
    assert count(session, IdempotencyRecord.id) == 0
    received = client.post("/receive", data=form | box(world), follow_redirects=True)
    html = received.get_data(as_text=True)
    assert "Received 3 × Botox Cosmetic 100 U, lot ONCE1." in html and ALREADY_RECORDED not in html


# --- transfers --------------------------------------------------------------------------------------------------


def test_a_transfer_sent_twice_is_sent_once(browser_client, world, session):
    first, second = world.receive(containers=2).containers
    session.flush()
    client = browser_client("clinic_manager")
    # The list is kept by the server (each scan redirects to the page that shows it); Send claims the key of the
    # page it was pressed on.
    form = page_form(client, "/transfers/new", "/transfers/new")
    form["box"] = hidden(client.get("/transfers/new").get_data(as_text=True), "box", "/transfers/new")
    for container in (first, second):
        listed = client.post("/transfers/new", data=form | {"code": container.label_code, "action": "add"})
    page = client.get(listed.location).get_data(as_text=True)
    data = form | {"form_key": hidden(page, "form_key", "/transfers/new"), "action": "send",
                   "containers": [str(first.id), str(second.id)],
                   "to_location_id": str(world.location("Fridge", world.other_clinic).id)}
    sent = twice(client, "/transfers/new", data)
    transfer = session.scalars(select(Transfer)).one()
    assert sent.location == f"/transfers/{transfer.id}" and len(transfer.items) == 2


def test_a_transfer_received_twice_is_received_once_and_a_refusal_keeps_the_form_good(browser_client, world,
                                                                                      session):
    (container,) = world.receive().containers
    transfer = send_transfer(world, [container], user="clinic_manager")
    session.flush()
    client = browser_client("manager")
    action = f"/transfers/{transfer.id}/receive"
    form = page_form(client, f"/transfers/{transfer.id}", action)
    room = world.location("Room 1", world.other_clinic)
    not_cold = client.post(action, data=form | {"location_id": str(room.id)})  # a toxin out of the fridge
    html = not_cold.get_data(as_text=True)
    assert not_cold.status_code == 409 and hidden(html, "form_key", action) == form["form_key"]
    twice(client, action, form | {"location_id": str(room.id), "keep_here": "y"})
    session.expire_all()
    assert session.get(Transfer, transfer.id).status is TransferStatus.RECEIVED
    assert session.get(Container, container.id).location_id == room.id


def test_a_transfer_refused_twice_and_a_call_back_sent_twice_do_it_once(browser_client, world, session):
    one, other = world.receive(containers=2).containers
    refused_one = send_transfer(world, [one], user="clinic_manager")
    called_back = send_transfer(world, [other], user="clinic_manager")
    session.flush()
    receiver = browser_client("manager")
    action = f"/transfers/{refused_one.id}/refuse"
    twice(receiver, action, page_form(receiver, f"/transfers/{refused_one.id}", action)
          | {"category": "damaged", "reason": "box crushed"})
    sender = browser_client("clinic_manager")
    action = f"/transfers/{called_back.id}/cancel"
    twice(sender, action, page_form(sender, f"/transfers/{called_back.id}", action))
    session.expire_all()
    assert session.get(Transfer, refused_one.id).status is TransferStatus.REFUSED
    assert session.get(Transfer, called_back.id).status is TransferStatus.CANCELLED


# --- counts -----------------------------------------------------------------------------------------------------


def test_a_count_started_twice_opens_one_sheet_and_a_line_added_twice_is_one_line(browser_client, world, session):
    (vial,) = world.receive().containers
    session.flush()
    client = browser_client("manager")
    started = twice(client, "/counts", page_form(client, "/counts", "/counts") | {"location_id": world.location().id})
    assert count(session, Count.id) == 1
    sheet = started.location
    action = f"{sheet}/lines"
    twice(client, action, page_form(client, sheet, action) | {"code": vial.label_code, "counted": "100"})
    assert len(session.scalars(select(Count)).one().lines) == 1


def test_each_button_of_a_count_sheet_has_its_own_key(browser_client, world, session):
    """Remove renders once per line, beside Submit: a key shared between them would take the second press for
    a repeat of the first."""
    vial, other = world.receive(containers=2).containers
    session.flush()
    client = browser_client("manager")
    sheet = client.post("/counts", data=page_form(client, "/counts", "/counts")
                        | {"location_id": world.location().id}).location
    for container in (vial, other):
        action = f"{sheet}/lines"
        client.post(action, data=page_form(client, sheet, action) | {"code": container.label_code, "counted": "100"})
    html = client.get(sheet).get_data(as_text=True)
    keys = {hidden(html, "form_key", f"{sheet}/lines/{line.id}/remove")
            for line in session.scalars(select(Count)).one().lines}
    keys.add(hidden(html, "form_key", f"{sheet}/submit"))
    assert len(keys) == 3


# --- kits -------------------------------------------------------------------------------------------------------


def test_a_kit_restocked_twice_takes_the_vial_once_and_a_check_sent_twice_is_one_check(browser_client, world,
                                                                                     session):
    kit = new_kit(world)
    (vial,) = world.receive("hylenex", lot="FRIDGE1").containers
    session.flush()
    client = browser_client("nurse")
    action = f"/kits/{kit.id}/contents"
    data = page_form(client, f"/kits/{kit.id}", action) | {"code": vial.label_code}
    first = client.post(action, data=data)
    second = client.post(action, data=data, follow_redirects=True)
    html = second.get_data(as_text=True)
    assert first.status_code == 302 and second.request.path == f"/kits/{kit.id}"
    assert ALREADY_RECORDED in html and "already in" not in html  # not refused: recorded by the first
    session.expire_all()
    assert session.get(Container, vial.id).location_id == kit.location_id

    action = f"/kits/{kit.id}/checks"
    form = page_form(client, f"/kits/{kit.id}", action)
    no_seal = client.post(action, data=form | {"notes": "x"})
    assert no_seal.status_code == 422 and hidden(no_seal.get_data(as_text=True), "form_key", action) == form["form_key"]
    twice(client, action, form | {"seal_intact": "yes", "notes": "ok"})
    assert count(session, KitCheck.id) == 1


def test_a_template_refused_for_a_line_then_corrected_is_created_once(browser_client, world, session):
    client = browser_client("manager")
    action = "/kit-templates"
    form = page_form(client, action, action)
    base = form | {"name": "Anaphylaxis kit", "check_interval_days": "7", "warning_days": "30",
                   "requirements-0-label": "Adrenaline", "requirements-0-target": f"product:{world.products['hylenex'].id}"}
    no_minimum = client.post(action, data=base)  # a line without its minimum: refused before the service
    assert no_minimum.status_code == 422 and count(session, IdempotencyRecord.id) == 0
    twice(client, action, base | {"requirements-0-min_quantity": "1"})
    assert session.scalar(select(func.count(KitTemplate.id)).where(KitTemplate.name == "Anaphylaxis kit")) == 1


# --- cold chain -------------------------------------------------------------------------------------------------


def _excursion(world, **extra) -> dict:
    start = (utcnow() - dt.timedelta(hours=3)).astimezone(dt.UTC)  # London in December is UTC
    return {"location_id": str(world.location().id), "started_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ended_at": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "min_c": "3",
            "max_c": "14"} | extra


def test_an_excursion_recorded_twice_is_one_excursion_and_a_refused_one_keeps_its_key(browser_client, world,
                                                                                     session):
    vial = world.container("botox", now=utcnow() - dt.timedelta(days=2))
    session.flush()
    client = browser_client("manager")
    action = "/cold-chain/excursions"
    form = page_form(client, "/cold-chain", action)
    unreadable = client.post(action, data=form | _excursion(world, max_c="warm"))
    html = unreadable.get_data(as_text=True)
    assert unreadable.status_code == 422 and hidden(html, "form_key", action) == form["form_key"]
    assert hidden(html, "form_key", "/cold-chain/import") != form["form_key"]  # the other form's own
    twice(client, action, form | _excursion(world))
    assert count(session, Excursion.id) == 1
    session.refresh(vial)
    assert vial.on_hold_since is not None


def test_a_held_container_wasted_twice_is_wasted_once(browser_client, world, session):
    vial = world.container("botox", now=utcnow() - dt.timedelta(days=2))
    session.flush()
    manager = browser_client("manager")
    manager.post("/cold-chain/excursions", data=page_form(manager, "/cold-chain", "/cold-chain/excursions")
                 | _excursion(world))
    client = browser_client("safety")
    # The board's group form: its key, sent by its "Waste all 1" button (formaction).
    data = page_form(client, "/cold-chain", "/cold-chain/holds/release") | {"reason": "warm for an hour",
                                                                           "container_id": str(vial.id)}
    action = "/cold-chain/holds/waste"
    first = client.post(action, data=data, follow_redirects=True)
    assert f"Wasted 1 container ({vial.label_code})." in first.get_data(as_text=True)
    second = client.post(action, data=data, follow_redirects=True)
    html = second.get_data(as_text=True)
    assert ALREADY_RECORDED in html and 'class="flash flash-error' not in html
    session.refresh(vial)
    assert vial.state is ContainerState.DISCARDED
    assert session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.WASTE)) == 1


def test_a_logger_import_answered_in_place_offers_a_fresh_key_and_a_repeat_lands_on_the_page(browser_client, world,
                                                                                           session):
    client = browser_client("manager")
    action = "/cold-chain/import"
    start = utcnow() - dt.timedelta(hours=4)
    lines = "\n".join(f"{(start + dt.timedelta(minutes=30 * i)).strftime('%Y-%m-%d %H:%M')},{t}"
                      for i, t in enumerate(("5", "11", "5")))
    data = page_form(client, "/cold-chain", action) | {"location_id": str(world.location().id), "readings": lines}
    imported = client.post(action, data=data)
    assert imported.status_code == 200
    assert hidden(imported.get_data(as_text=True), "form_key", action) != data["form_key"]
    again = client.post(action, data=data)
    assert again.status_code == 302 and again.location == "/cold-chain"
    assert count(session, Excursion.id) == 1


# --- adverse events ---------------------------------------------------------------------------------------------


def test_an_adverse_event_reported_twice_is_one_event_and_a_refused_report_keeps_its_key(browser_client, world,
                                                                                        session):
    treatment = start_treatment(world, "P-AE", at=utcnow())
    draw(world, treatment, world.container("filler", lot="JUV-ONCE"), "0.5", "mL", area="lip", at=utcnow())
    session.flush()
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    form = page_form(client, path, "")
    report = {"kind": "vascular_occlusion", "severity": "serious", "onset_date": utcnow().date().isoformat(),
              "outcome": "ongoing", "description": "Blanching of the upper lip"}
    no_kind = client.post(path, data=form | report | {"kind": ""})
    assert no_kind.status_code == 422 and hidden(no_kind.get_data(as_text=True), "form_key") == form["form_key"]
    first = twice(client, path, form | report)
    event = session.scalars(select(AdverseEvent)).one()
    assert first.location == f"/adverse-events/{event.id}"


# --- recall -----------------------------------------------------------------------------------------------------


def test_a_recall_opened_twice_is_one_case_and_a_quarantine_sent_twice_is_recorded_once(browser_client, world,
                                                                                        session):
    recalled = world.container("botox", lot="RC-ONCE")
    quarantined = world.container("dysport", lot="Q-ONCE")
    session.flush()
    client = browser_client("safety")
    lot = quarantined.lot
    action = f"/trace/lots/{lot.id}/quarantine"
    twice(client, action, page_form(client, f"/trace/lots/{lot.id}", action) | {"reason": "supplier warning"})
    session.refresh(lot)
    assert lot.status is LotStatus.QUARANTINED

    lot = recalled.lot
    data = page_form(client, f"/trace/lots/{lot.id}", "/recalls") | {
        "lot_ids": str(lot.id), "reason": "manufacturer recall", "recall_class": "II", "source": "manufacturer"}
    first = twice(client, "/recalls", data)
    case = session.scalars(select(RecallCase)).one()
    assert first.location == f"/recalls/{case.id}"
