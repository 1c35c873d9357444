"""The cart's "Needs attention" and the Past beyond-use or hold page list a filler syringe kept for its patient
whose hold is over, and a punctured ready-to-use liquid past its in-use time, with what to do."""

from __future__ import annotations

import datetime as dt
import re

from inventory.models import ContainerState, utcnow
from tests.factories import close_treatment, draw, start_treatment
from tests.pages.conftest import csrf_token
from tests.pages.test_cart_attention_pages import attention_line, attention_panel, home

DAY = dt.timedelta(days=1)


def kept_syringe(world, session):
    """A syringe opened five days ago for patient A and kept for her for three days after her treatment closed."""
    world.clinic.filler_hold_days = 3
    session.flush()
    syringe = world.container("filler")
    opened = utcnow() - 5 * DAY
    first = start_treatment(world, "A", at=opened)
    draw(world, first, syringe, "0.2", "mL", area="lip", at=opened)
    assert close_treatment(world, first, at=opened).held == [syringe]
    session.flush()
    return syringe


def test_the_home_page_says_a_kept_syringe_s_hold_is_over(browser_client, world, session):
    syringe = kept_syringe(world, session)
    line = attention_line(attention_panel(home(browser_client("nurse"))), "beyond-use")
    assert f">{syringe.label_code}</a>" in line
    assert "was kept for its patient until" in line and "with 0.35 mL left" in line


def test_the_page_lists_it_as_hold_over_and_wastes_it(browser_client, world, session):
    syringe = kept_syringe(world, session)
    vial = world.container("hylenex")
    world.products["hylenex"].beyond_use_hours = 6
    draw(world, start_treatment(world, "B", at=utcnow() - DAY), vial, "30", "USP U", area="lip",
         at=utcnow() - DAY)
    session.flush()
    nurse = browser_client("nurse")
    html = nurse.get("/cart/beyond-use").get_data(as_text=True)
    assert "Past beyond-use or hold" in html
    assert syringe.label_code in html and vial.label_code in html and "hold over" in html
    assert "Waste all 2" in html

    token = csrf_token(nurse, "/cart/beyond-use")
    form_key = re.search(r'name="form_key" value="([^"]+)"', html).group(1)
    done = nurse.post("/cart/beyond-use", data={"csrf_token": token, "form_key": form_key}, follow_redirects=True)
    assert "Wasted what was left in 2 containers past beyond-use or hold." in done.get_data(as_text=True)
    session.expire_all()
    assert syringe.state is ContainerState.DISCARDED and vial.state is ContainerState.DISCARDED
