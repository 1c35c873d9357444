"""The receiving page refuses an expired box of a new lot as the API does, and keeps nothing of it: no lot is made
for it (QA: the API's refusal named the id of a lot made and rolled back; the page names no lot id)."""

from __future__ import annotations

from tests.pages.test_receiving_signs_pages import flashed, receive_form, stock


def test_an_expired_box_of_a_new_lot_is_refused_and_no_lot_is_kept(browser_client, world, session):
    before = stock(session)
    client = browser_client("manager")
    refused = client.post("/receive", data=receive_form(
        world, client, code=f"(01){world.botox.gtins[0].gtin}(17)200131(10)QA3OLD"))
    assert refused.status_code == 409
    assert flashed(refused) == ("lot_expired", "Lot QA3OLD of Botox Cosmetic 100 U expired on 31 Jan 2020: do not "
                                               "use.")
    assert stock(session) == before
