"""QA (a screen reader's view of the cart): the treatment page had no h1 and the cart's first heading was an h2;
the reason of a correction had a placeholder for its only label."""

from __future__ import annotations

import re

from tests import recall_helpers as rh
from tests.factories import patient, reconstitute


def test_cart_pages_open_with_their_h1_and_a_correction_reason_has_a_label(browser_client, world):
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    treatment = rh.treat(world, patient(world, "L-1", name="Ann Lee"), injector=world.users["nurse"])
    draw = rh.give(world, treatment, vial, "4", injector=world.users["nurse"])
    client = browser_client("nurse")

    home = client.get("/cart").get_data(as_text=True)
    assert re.findall(r"<h([1-6])", home)[0] == "1"

    page = client.get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    assert re.findall(r"<h([1-6])", page)[0] == "1" and "Treatment of Ann Lee</h1>" in page
    assert f'<label for="reverse-{draw.id}"' in page and f'id="reverse-{draw.id}"' in page
