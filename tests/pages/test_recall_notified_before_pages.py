"""The recall case page shows a patient already notified in an earlier case, and what she was not told."""

from __future__ import annotations

from tests import recall_helpers as rh
from tests.factories import NOW
from tests.integration.test_recall_notified_before import HOUR, Story


def row_of(html: str, row_id: str) -> str:
    row = html[html.index(f'id="{row_id}"'):]
    return row[:row.index("</tr>")]


def test_the_case_page_shows_who_was_notified_in_an_earlier_case(world, session, browser_client):
    story = Story(world, before_first_case=lambda s: rh.give(world, rh.treat(world, s.bea, at=NOW + 5 * HOUR),
                                                             s.vial, "2", at=NOW + 5 * HOUR))
    second = story.open([story.lot.id])
    session.flush()

    html = browser_client("safety").get(f"/recalls/{second.id}").get_data(as_text=True)

    first = story.first.id
    ann = row_of(html, f"patient-{story.ann.id}")
    assert f'Notified in <a href="/recalls/{first}">case #{first}</a> on 15 Jun 2026 12:30 by safety' in ann
    assert "carried over" in ann and "recall-carried" in ann
    bea = row_of(html, f"patient-{story.bea.id}")  # told in case A, but not about her later dose
    assert f'Notified in <a href="/recalls/{first}">case #{first}</a> on 15 Jun 2026 12:30 by safety' in bea
    assert "not about" in bea and "15 Jun 2026 15:30" in bea  # the later dose, London time
    assert "Pending" in bea
    assert "Notified in" not in row_of(html, f"patient-{story.ned.id}")
    assert "1 patient already notified about these lots in an earlier case" in html
