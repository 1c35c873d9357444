"""QA (a screen reader's view of the cart): the treatment page had no h1 and the cart's first heading was an h2;
the reason of a correction had a placeholder for its only label."""

from __future__ import annotations

import re

from recall import services
from tests import recall_helpers as rh
from tests.factories import NOW, patient, reconstitute


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


def test_a_draw_from_a_lot_recalled_since_says_so_in_the_treatments_draws(browser_client, world):
    """QA: after a Class I recall of the lot, the open treatment listed its draw with no sign of it."""
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    treatment = rh.treat(world, patient(world, "L-1", name="Ann Lee"), injector=world.users["nurse"])
    rh.give(world, treatment, vial, "4", injector=world.users["nurse"])
    client = browser_client("nurse")
    before = client.get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    assert 'class="status status-recalled">recalled' not in before

    services.open_recall(world.session, actor=world.users["safety"], lot_ids=[vial.lot_id], reason="Notice 19",
                         recall_class="I", source="manufacturer", now=NOW)
    after = client.get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    draws = after[after.index("<table class=\"data draws\">"):]
    assert '<span class="mono">LT4821A</span> <span class="status status-recalled">recalled</span>' in draws
