"""The adverse event's page shows a reversed rescue dose struck through, "reversed: not given" (as the traces do),
and leaves it out of the regulator's text; a cause whose every draw was reversed stays in the cause table, marked,
but is no longer a suspect product of the report."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.adverse_events.models import AdverseEvent
from inventory.models import utcnow
from tests.factories import draw, reverse, start_treatment
from tests.pages.conftest import csrf_token
from tests.pages.test_adverse_event_rescue_pages import event_form, section, treated_first


def recorded_event(browser_client, world, session, treatment) -> tuple[object, AdverseEvent]:
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    assert client.post(path, data=event_form(client, path)).status_code == 302
    session.expire_all()
    return client, session.scalar(select(AdverseEvent).where(AdverseEvent.treatment_id == treatment.id))


def report_text(html: str) -> str:
    return re.search(r'<pre class="report-text" id="report-text">(.*?)</pre>', html, re.S).group(1)


def rescue_row(rescues: str, draw_id: int) -> str:
    match = re.search(rf'<tr[^>]*data-draw="{draw_id}"[^>]*>(.*?)</tr>', rescues, re.S)
    assert match, draw_id
    return match.group(0)


def test_a_reversed_rescue_dose_is_struck_through_and_left_out_of_the_regulator_text(browser_client, world, session):
    # QA: 150 U given first, then 2 x 75 U named for the event at the cart, the second a double entry, reversed.
    treatment, _, _, first = treated_first(world, "P-DBL")
    client, event = recorded_event(browser_client, world, session, treatment)
    vial = world.container("hylenex", lot="HYL-DBL")
    given = draw(world, treatment, vial, "75", area="lip", reason="emergency", adverse_event_id=event.id,
                 at=utcnow()).draw
    double = draw(world, treatment, vial, "75", area="lip", reason="emergency", adverse_event_id=event.id,
                  at=utcnow()).draw
    reverse(world, double, "double entry", at=utcnow())
    world.session.flush()

    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)

    rescues = section(html, "rescues")
    for kept in (first, given):
        row = rescue_row(rescues, kept.id)
        assert "reversed" not in row and "<del>" not in row
    struck = rescue_row(rescues, double.id)
    assert 'class="reversed"' in struck and "reversed: not given" in struck and "<del>75 USP U</del>" in struck
    treated = re.search(r"Treatment of the event: (.*)", report_text(html)).group(1)
    assert [line.split(" Hylenex")[0] for line in treated.split("; ")] == ["150 USP U", "75 USP U"]
    exported = client.get(f"/adverse-events/{event.id}/report.csv").get_data(as_text=True)
    assert exported.count("75 USP U") == 1


def test_a_cause_whose_only_draw_was_reversed_is_marked_and_not_a_suspect_product(browser_client, world, session):
    treatment = start_treatment(world, "P-WRONG", at=utcnow())
    syringe = world.container("filler", lot="JUV-OK")
    wrong = world.container("filler", lot="JUV-BAD")
    draw(world, treatment, syringe, "0.5", "mL", area="lip", at=utcnow())
    mistaken = draw(world, treatment, wrong, "0.3", "mL", area="lip", at=utcnow()).draw
    world.session.flush()
    client, event = recorded_event(browser_client, world, session, treatment)
    reverse(world, mistaken, "wrong syringe scanned", at=utcnow())
    world.session.flush()

    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)

    causes = section(html, "linked")
    rows = re.findall(r"<tr[^>]*>.*?</tr>", causes, re.S)
    kept = next(r for r in rows if syringe.label_code in r)
    struck = next(r for r in rows if wrong.label_code in r)
    assert "reversed" not in kept
    assert 'class="reversed"' in struck and "reversed: not given" in struck and "<del>JUV-BAD</del>" in struck
    report = report_text(html)
    assert "Product 1 lot: JUV-OK" in report and "JUV-BAD" not in report and "Product 2" not in report
    listed = section(client.get("/adverse-events").get_data(as_text=True), "adverse-events")
    assert "JUV-OK" in listed and "<del" in listed and "JUV-BAD</del>" in listed
    signals = browser_client("safety").get("/safety/lot-signals").get_data(as_text=True)
    assert "JUV-OK" in signals and "JUV-BAD" not in signals


def test_reversing_a_rescue_at_the_cart_page_then_shows_it_reversed_on_the_event(browser_client, world, session):
    treatment, _, _, rescue = treated_first(world, "P-CART")
    client, event = recorded_event(browser_client, world, session, treatment)
    cart_path = f"/cart/treatments/{treatment.id}"

    reversed_page = client.post(f"{cart_path}/movements/{rescue.movement_id}/reverse",
                                data={"csrf_token": csrf_token(client, cart_path), "reason": "double entry"},
                                follow_redirects=True)

    assert reversed_page.status_code == 200
    assert "Corrected:" in reversed_page.get_data(as_text=True)  # no error: reversed like any draw
    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)
    assert "reversed: not given" in rescue_row(section(html, "rescues"), rescue.id)
    assert "Treatment of the event" not in report_text(html)
