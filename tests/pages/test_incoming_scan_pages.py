"""The pages say what the API says of stock on the road: the cart's scan of a box on its way to the clinic
tells the nurse a manager must receive it first, and a transfer's page tells recalled stock (never to be
used) from quarantined stock (unusable until released)."""

from __future__ import annotations

import html as markup

import pytest

from inventory.models import LotStatus
from tests.transfer_scenes import vial_on_its_way_to_new_york
from tests.factories import send_transfer, start_treatment


@pytest.fixture
def on_the_road(world, session):
    return vial_on_its_way_to_new_york(world, session)


def test_the_carts_scan_of_a_box_on_its_way_here_says_a_manager_must_receive_it(browser_client, world,
                                                                                  on_the_road):
    vial, transfer = on_the_road
    treatment = start_treatment(world, "NYC-1", user="other_nurse", clinic=world.other_clinic)
    page = browser_client("other_nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}")
    text = markup.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert (f"This {vial.label_code} (Botox Cosmetic 100 U, lot INC7) is on its way here from LON on transfer "
            f"#{transfer.id}: a manager must receive it before it is used.") in text
    assert "Scan the vial's Vialog label again" not in text


def test_the_senders_cart_says_a_vial_on_the_road_is_on_its_way_and_offers_no_waste(browser_client, world,
                                                                                    on_the_road):
    # Not "Where: Fridge, Remaining 0 U" with a waste form: it is in no fridge here, and not empty.
    vial, _ = on_the_road
    treatment = start_treatment(world, "LON-1")
    page = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}")
    text = markup.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "is on its way to another clinic" in text
    assert '<dd id="where">On its way to another clinic</dd>' in text
    assert 'id="remaining"' not in text and "Waste from this container" not in text


def test_the_carts_scan_of_a_vial_going_elsewhere_reads_as_an_unknown_label(browser_client, world, session):
    shelf = world.container("botox", lot="INC7")  # London's, on its shelf
    treatment = start_treatment(world, "NYC-1", user="other_nurse", clinic=world.other_clinic)
    page = browser_client("other_nurse").get(f"/cart/treatments/{treatment.id}?scan={shelf.label_code}")
    text = markup.unescape(page.get_data(as_text=True))
    assert f"Label {shelf.label_code} is not a container of any clinic you work at. Scan the vial's Vialog label again." in text
    assert "INC7" not in text and "on its way" not in text


def test_a_transfer_of_recalled_stock_says_it_is_never_to_be_used(browser_client, world, session, on_the_road):
    vial, transfer = on_the_road
    vial.lot.status = LotStatus.RECALLED  # recalled while on the road
    session.flush()
    text = markup.unescape(browser_client("manager").get(f"/transfers/{transfer.id}").get_data(as_text=True))
    assert "Lot INC7 of Botox Cosmetic 100 U is recalled: never to be used." in text
    assert "returned or destroyed on the lot's recall case" in text
    assert "until a safety lead releases it" not in text  # a recall is never released


def test_a_transfer_of_quarantined_stock_keeps_the_quarantine_wording(browser_client, world, session, on_the_road):
    vial, transfer = on_the_road
    vial.lot.status = LotStatus.QUARANTINED
    session.flush()
    text = markup.unescape(browser_client("manager").get(f"/transfers/{transfer.id}").get_data(as_text=True))
    assert "Some of this stock is quarantined: it is received like any stock, and stays unusable until a safety " \
           "lead releases it." in text
    assert "never to be used" not in text


def test_both_when_both(browser_client, world, session):
    recalled, quarantined = world.container("botox", lot="REC1"), world.container("filler", lot="QUA1")
    transfer = send_transfer(world, [recalled, quarantined], to=world.location("Fridge", world.other_clinic))
    recalled.lot.status, quarantined.lot.status = LotStatus.RECALLED, LotStatus.QUARANTINED
    session.flush()
    text = markup.unescape(browser_client("manager").get(f"/transfers/{transfer.id}").get_data(as_text=True))
    assert "Lot REC1 of Botox Cosmetic 100 U is recalled: never to be used." in text
    assert "Some of this stock is quarantined:" in text
