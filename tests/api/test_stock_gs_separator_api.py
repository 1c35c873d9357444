"""A box's GS1 code with its real group separator (GS, U+001D) in ``GET /api/v1/stock?q=``: read as the code it
is, as the Stock page and receiving read it, never refused as an invisible character nor split into words.
Any other control character in a search is still refused, and words are still searched word by word."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from tests.api.conftest import error_code

FAR = dt.date(2099, 12, 31)
GS = "\x1d"


def _search(client, q: str):
    return client.get("/stock?" + urlencode({"q": q}))


def _lots(client, q: str) -> set[str]:
    response = _search(client, q)
    assert response.status_code == 200, response.get_json()
    return {row["lot"]["number"] for row in response.get_json()["rows"]}


def _box_code(world, lot: str) -> str:
    return f"01{world.botox.gtins[0].gtin}17280331" f"10{lot}{GS}21SER0001"


def test_a_boxs_code_with_a_group_separator_finds_its_lot(api, world, session):
    world.receive("botox", lot="QA1006", expiry=FAR)
    world.receive("botox", lot="QA2000", expiry=FAR)
    session.flush()
    client = api("manager")
    assert _lots(client, _box_code(world, "QA1006")) == {"QA1006"}
    assert _lots(client, f"]d2{_box_code(world, 'QA1006')}") == {"QA1006"}
    assert _lots(client, _box_code(world, "QA1006").replace(GS, "|")) == {"QA1006"}
    for q in ("botox\x07", "qa\t1006", f"{_box_code(world, 'QA1006')}\x1e"):  # no other invisible character
        response = _search(client, q)
        assert response.status_code == 422 and error_code(response) == "validation_error", q


def test_a_box_code_is_read_as_a_code_and_words_still_as_words(api, world, session):
    world.receive("botox", lot="QA1006", expiry=FAR)
    world.receive("dysport", lot="QA2000", expiry=FAR)
    session.flush()
    client = api("manager")
    assert _lots(client, _box_code(world, "QA2000")) == set()  # Dysport's lot, not Botox's: no such box
    assert _lots(client, _box_code(world, "QA1006")) == {"QA1006"}
    assert _lots(client, "botox qa10") == {"QA1006"}
    assert _lots(client, "qa") == {"QA1006", "QA2000"}
    assert _lots(client, "botox QA2000") == set()

