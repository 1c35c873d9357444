"""The count sheet keeps a scan refused for its quantity (QA: a box scanned with Sealed containers empty was thrown
away, and had to be scanned again): the page names what it read, the field its line takes a value in has the
focus, and Add records it. A refused line's quantities stay beside its refusal, but never go with a fresh scan
(QA: a Left of 50 refused beside another box's 3 sealed)."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from inventory.counts.models import CountLine
from tests.factories import NOW, opened_vial
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

_KEPT = re.compile(r'<input type="hidden" name="scanned" value="([^"]*)">')


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)


def _input(page: str, element_id: str) -> str:
    match = re.search(rf'<input[^>]*\bid="{re.escape(element_id)}"[^>]*>', page)
    assert match, f"no #{element_id}"
    return match.group(0)


def _value(tag: str) -> str | None:
    match = re.search(r'\bvalue="([^"]*)"', tag)
    return html.unescape(match.group(1)) if match else None


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def _kept(page: str) -> str | None:
    match = _KEPT.search(page)
    return html.unescape(match.group(1)) if match else None


def _lines(session) -> list[CountLine]:
    session.expire_all()
    return list(session.scalars(select(CountLine).order_by(CountLine.id)))


@pytest.fixture
def sheet(browser_client, world, session):
    """A count started at the fridge by the clinic's manager: (client, the sheet's URL, a CSRF token)."""
    world.receive("botox", lot="QA1001A", containers=3)
    world.receive("botox", lot="QA1002B", containers=3)
    session.flush()
    client = browser_client("clinic_manager")
    token = csrf_token(client, "/counts")
    started = client.post("/counts", data={"location_id": world.location().id, "csrf_token": token})
    assert started.status_code == 302
    return client, started.headers["Location"], token


def _box(world, lot: str) -> str:
    return f"(01){world.botox.gtins[0].gtin}(17)270331(10){lot}"  # the lots' own expiry


def test_a_box_scanned_without_how_many_is_kept_and_named(sheet, world, session):
    client, url, token = sheet
    refused = client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "csrf_token": token})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Say how many sealed containers of this lot you found" in page
    assert _kept(page) == _box(world, "QA1001A")
    assert "Box scanned: (01)" in _text(page) and "(Botox Cosmetic 100 U, lot QA1001A)" in _text(page)
    # The field that needs a value has the focus, not the scan field (which is left empty for a new scan).
    assert "autofocus" in _input(page, "containers")
    assert "autofocus" not in _input(page, "code") and "autofocus" not in _input(page, "counted")
    assert _value(_input(page, "code")) == ""
    assert _lines(session) == []


def test_add_records_the_kept_box_with_how_many(sheet, world, session):
    client, url, token = sheet
    client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "csrf_token": token})
    # What the browser sends next: the empty scan field, the kept code, the number typed.
    added = client.post(f"{url}/lines", data={"code": "", "scanned": _box(world, "QA1001A"), "containers": "3",
                                             "csrf_token": token})
    assert added.status_code == 302
    (line,) = _lines(session)
    assert (line.lot.number, line.containers_counted, line.scanned_code) == ("QA1001A", 3, _box(world, "QA1001A"))
    assert _kept(client.get(url).get_data(as_text=True)) is None  # recorded: nothing is kept any more


def test_a_new_scan_replaces_the_kept_one(sheet, world, session):
    client, url, token = sheet
    kept = _kept(client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "csrf_token": token})
                 .get_data(as_text=True))
    assert kept == _box(world, "QA1001A")
    added = client.post(f"{url}/lines", data={"code": _box(world, "QA1002B"), "scanned": kept, "containers": "2",
                                             "csrf_token": token})
    assert added.status_code == 302
    assert [(line.lot.number, line.containers_counted) for line in _lines(session)] == [("QA1002B", 2)]


def test_a_new_scan_refused_for_itself_keeps_nothing(sheet, world, session):
    client, url, token = sheet
    kept = _kept(client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "csrf_token": token})
                 .get_data(as_text=True))
    assert kept == _box(world, "QA1001A")
    refused = client.post(f"{url}/lines", data={"code": _box(world, "NEVER1"), "scanned": kept, "containers": "1",
                                               "csrf_token": token})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 404 and "was never received" in page
    # The scan that was refused is gone (scan the right one), and so is the one it replaced.
    assert _kept(page) is None and "autofocus" in _input(page, "code") and "autofocus" not in _input(page, "containers")
    empty = client.post(f"{url}/lines", data={"code": " ", "scanned": "", "csrf_token": token})
    assert empty.status_code == 422 and "Scan a label or a box code." in empty.get_data(as_text=True)
    assert _lines(session) == []


def test_a_label_refused_for_what_is_left_is_kept_and_asks_for_left(sheet, world, session):
    client, url, token = sheet
    vial = opened_vial(world)
    session.flush()
    refused = client.post(f"{url}/lines", data={"code": vial.label_code, "counted": "150", "csrf_token": token})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "150 cannot be left in it" in page
    assert _kept(page) == vial.label_code
    assert f"Label scanned: {vial.label_code} (Botox Cosmetic 100 U, lot {vial.lot.number})" in _text(page)
    assert "autofocus" in _input(page, "counted") and "autofocus" not in _input(page, "code")
    added = client.post(f"{url}/lines", data={"scanned": vial.label_code, "counted": "40", "csrf_token": token})
    assert added.status_code == 302, re.findall(r'role="alert"[^>]*>([^<]*)', added.get_data(as_text=True))
    assert [(line.container_id, line.counted) for line in _lines(session)] == [(vial.id, 40)]


def test_a_number_that_cannot_be_read_keeps_the_scan_too(sheet, world, session):
    client, url, token = sheet
    refused = client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "containers": "3.5",
                                               "csrf_token": token})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "type a whole number" in page
    assert _kept(page) == _box(world, "QA1001A") and "autofocus" in _input(page, "containers")


def _sent_with(page: str, **typed: str) -> dict:
    """What the browser sends from the refused page: its hidden fields and quantities as written back, then what
    the manager typed or scanned."""
    hidden = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="(scanned|written_\w+)" value="([^"]*)">', page)}
    written = {name: _value(_input(page, name)) or "" for name in ("code", "counted", "containers")}
    return hidden | written | typed


def test_a_refused_lines_quantity_does_not_go_with_the_next_scan(sheet, world, session):
    client, url, token = sheet
    refused = client.post(f"{url}/lines", data={"code": _box(world, "QA1001A"), "counted": "50",
                                               "csrf_token": token})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "50 is not a whole number of them" in page
    assert _value(_input(page, "counted")) == "50"  # what was typed, beside its refusal
    assert "autofocus" in _input(page, "containers")  # a box is counted in sealed containers
    # Another box scanned, 3 typed in Sealed containers, Left still as written back: the 50 is the refused line's.
    added = client.post(f"{url}/lines", data=_sent_with(page, code=_box(world, "QA1002B"), containers="3",
                                                       csrf_token=token))
    assert added.status_code == 302
    assert [(line.lot.number, line.containers_counted) for line in _lines(session)] == [("QA1002B", 3)]


def test_a_leftover_left_is_never_taken_for_another_vial_but_one_typed_for_it_is(sheet, world, session):
    client, url, token = sheet
    first, second, third = opened_vial(world), opened_vial(world), opened_vial(world)
    session.flush()

    def refused_first() -> str:
        page = client.post(f"{url}/lines", data={"code": first.label_code, "counted": "150", "csrf_token": token}) \
            .get_data(as_text=True)
        assert "150 cannot be left in it" in page and _value(_input(page, "counted")) == "150"
        return page

    # The second vial scanned with Left untouched: not counted as the first one's 150, but asked for.
    asked = client.post(f"{url}/lines", data=_sent_with(refused_first(), code=second.label_code, csrf_token=token))
    assert asked.status_code == 422
    page = asked.get_data(as_text=True)
    assert "has been opened: type what is left in it" in page and _kept(page) == second.label_code
    assert _value(_input(page, "counted")) in (None, "") and "autofocus" in _input(page, "counted")
    # Typed, and Add pressed: the kept vial is counted.
    assert client.post(f"{url}/lines", data=_sent_with(page, counted="40", csrf_token=token)).status_code == 302

    # Left typed first, then the label scanned (its Enter sends the line), as for any opened vial: the new line's.
    added = client.post(f"{url}/lines", data=_sent_with(refused_first(), counted="30", code=third.label_code,
                                                       csrf_token=token))
    assert added.status_code == 302
    assert [(line.container_id, line.counted) for line in _lines(session)] == [(second.id, 40), (third.id, 30)]
