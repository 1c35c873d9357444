"""A concentration reads as a nurse writes it: Daxxify 100 U in 1.2 mL is "8.33 U per 0.1 mL (83.33 U/mL)", not
"8.33333 U per 0.1 mL (83.3333 U/mL)", on the cart, in the reconstitution's message and on the container's page.
Display only: the concentration stored, and the units a draw in mL converts to, stay exact."""

from __future__ import annotations

from decimal import Decimal

from inventory.models import utcnow
from tests.factories import reconstitute
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_pages import post_draw, start


def test_a_daxxify_vial_mixed_in_1_2_ml_reads_to_two_decimals_and_draws_exactly(browser_client, world, session):
    sealed = world.container("daxxify", lot="DX12")
    treatment = start(world, "P-DAX")
    session.flush()
    client = browser_client("nurse")
    mixed = client.post(f"/cart/treatments/{treatment.id}/reconstitute",
                        data={"csrf_token": csrf_token(client, f"/cart/treatments/{treatment.id}"),
                              "container": sealed.label_code, "diluent_ml": "1.2", "diluent": "label"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Reconstituted: 8.33 U per 0.1 mL." in mixed
    assert "8.33 U per 0.1 mL (83.33 U/mL)" in mixed
    assert "8.3333" not in mixed

    session.refresh(sealed)
    assert sealed.concentration_u_per_ml == Decimal("83.3333")  # stored exact
    page = post_draw(client, treatment, sealed.label_code, quantity="0.3", area="glabella")
    assert page.status_code == 200, page.get_data(as_text=True)
    session.refresh(treatment)
    (dose,) = treatment.draws
    assert dose.quantity == Decimal("25.0000")  # 0.3 mL at 83.3333 U/mL, to the ledger's step
    assert dose.concentration_u_per_ml == Decimal("83.3333")

    history = client.get(f"/containers/{sealed.label_code}").get_data(as_text=True)
    assert "83.33 U/mL" in history and "83.3333" not in history


def test_a_round_concentration_keeps_its_plain_figure(browser_client, world, session):
    vial = reconstitute(world, world.container("botox"), "2.5", at=utcnow())
    treatment = start(world, "P-BTX")
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(as_text=True)
    assert "4 U per 0.1 mL (40 U/mL)" in html
