"""A box's GS1 code scanned into the Stock page's "Product or lot" with its real group separator (GS, U+001D, what
a keyboard-wedge scanner types between a variable-length field and the next): read as the code it is, as Receive
reads it, never split into words at the separator. Text that is no code is still searched word by word."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import urlencode

FAR = dt.date(2099, 12, 31)
GS = "\x1d"


def lots(html: str) -> list[str]:
    return re.findall(r'<td class="mono">([^<]+)</td>', html)


def searched(client, q: str) -> str:
    response = client.get("/stock?" + urlencode({"q": q}))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def box_code(world, lot: str) -> str:
    """A box's code as a scanner types it: the lot (variable length) ends at a GS, a serial follows."""
    return f"01{world.botox.gtins[0].gtin}17280331" f"10{lot}{GS}21SER0001"


def test_a_boxs_code_with_a_group_separator_finds_its_lot(browser_client, world, session):
    world.receive("botox", lot="QA1006", expiry=FAR)
    world.receive("botox", lot="QA2000", expiry=FAR)
    session.flush()
    client = browser_client("manager")
    html = searched(client, box_code(world, "QA1006"))
    assert lots(html) == ["QA1006"]
    assert "No stock matches" not in html
    # With the scanner's symbology identifier and its trailing Enter, as a wedge scanner may send it.
    assert lots(searched(client, f"]d2{box_code(world, 'QA1006')}\r\n")) == ["QA1006"]
    # The same as the "|" a scanner may be set to send in place of GS.
    assert lots(searched(client, box_code(world, "QA1006").replace(GS, "|"))) == ["QA1006"]


def test_a_box_code_is_read_as_a_code_and_words_still_as_words(browser_client, world, session):
    world.receive("botox", lot="QA1006", expiry=FAR)
    world.receive("dysport", lot="QA2000", expiry=FAR)
    session.flush()
    client = browser_client("manager")
    assert lots(searched(client, box_code(world, "QA2000"))) == []  # Dysport's lot, not Botox's: no such box
    assert lots(searched(client, box_code(world, "QA1006"))) == ["QA1006"]
    assert lots(searched(client, "  botox   qa10 ")) == ["QA1006"]
    assert lots(searched(client, "qa")) == ["QA1006", "QA2000"]
    assert "No stock matches" in searched(client, "botox QA2000")


def test_the_scanned_code_stays_in_the_search_box(browser_client, world, session):
    world.receive("botox", lot="QA1006", expiry=FAR)
    session.flush()
    code = box_code(world, "QA1006")
    html = searched(browser_client("manager"), code)
    value = re.search(r'<input id="stock-q" name="q" type="search" value="([^"]*)"', html)
    assert value and html_lib.unescape(value.group(1)) == code  # searched again as it was scanned

