"""The adverse event form shows emergency hyaluronidase as the event's rescue, never ticked as a cause; the
event's page links a rescue given before the event was recorded."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.adverse_events.models import AdverseEvent
from inventory.models import utcnow
from tests.factories import draw, start_treatment
from tests.pages.conftest import csrf_token


def treated_first(world, ref="P-VO"):
    """QA's scenario: 0.5 mL of Juvederm into the lip, then Hylenex drawn from the kit as an emergency."""
    treatment = start_treatment(world, ref, at=utcnow())
    syringe = world.container("filler", lot="JUV-PAGE")
    draw(world, treatment, syringe, "0.5", "mL", area="lip", at=utcnow())
    hylenex = world.container("hylenex", lot="HYL-PAGE")
    rescue = draw(world, treatment, hylenex, "150", area="lip", reason="emergency", at=utcnow()).draw
    world.session.flush()
    return treatment, syringe, hylenex, rescue


def event_form(client, path: str, **extra) -> dict:
    return {"csrf_token": csrf_token(client, path), "kind": "vascular_occlusion", "severity": "serious",
            "onset_date": utcnow().date().isoformat(), "outcome": "ongoing",
            "description": "Blanching and livedo of the upper lip"} | extra


def section(html: str, css_class: str) -> str:
    match = re.search(rf'<(fieldset|table) class="[^"]*{css_class}[^"]*">(.*?)</\1>', html, re.S)
    assert match, css_class
    return match.group(2)


def test_the_form_offers_the_filler_as_a_cause_and_shows_the_hyaluronidase_as_the_rescue(browser_client, world):
    treatment, syringe, hylenex, _ = treated_first(world)

    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}/adverse-event").get_data(as_text=True)

    assert f'name="container_ids" value="{syringe.id}" checked' in html
    assert f'name="container_ids" value="{hylenex.id}"' not in html  # not ticked, not even offered
    rescue = section(html, "rescues")
    assert hylenex.label_code in rescue and "HYL-PAGE" in rescue and "150 USP U" in rescue
    assert syringe.label_code not in rescue


def test_recording_from_the_page_links_the_filler_and_names_the_rescue(browser_client, world, session):
    treatment, syringe, hylenex, rescue = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"

    page = client.post(path, data=event_form(client, path), follow_redirects=True)

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "Adverse event recorded and linked to 1 container. Rescue: 1 hyaluronidase dose." in html
    causes, rescues = section(html, "linked"), section(html, "rescues")
    assert "JUV-PAGE" in causes and hylenex.label_code not in causes and "HYL-PAGE" not in causes
    assert hylenex.label_code in rescues and "150 USP U" in rescues
    report = re.search(r'<pre class="report-text" id="report-text">(.*?)</pre>', html, re.S).group(1)
    assert "Product 1 lot: JUV-PAGE" in report and "Product 2" not in report
    assert "Treatment of the event: 150 USP U Hylenex" in report
    session.expire_all()
    event = session.scalar(select(AdverseEvent))
    assert [link.container_id for link in event.links] == [syringe.id]
    assert [r.draw_id for r in event.rescues] == [rescue.id]
    exported = client.get(f"/adverse-events/{event.id}/report.csv").get_data(as_text=True)
    assert "JUV-PAGE" in exported and "HYL-PAGE" not in exported
    listed = section(client.get("/adverse-events").get_data(as_text=True), "adverse-events")
    assert "JUV-PAGE" in listed and "HYL-PAGE" not in listed


def test_a_forged_form_naming_the_rescue_as_a_cause_is_refused_in_words(browser_client, world, session):
    treatment, syringe, hylenex, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"

    page = client.post(path, data=event_form(client, path, container_ids=[str(syringe.id), str(hylenex.id)]))

    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'data-code="validation_error"' in html and "never as its cause" in html and hylenex.label_code in html
    session.expire_all()
    assert session.scalar(select(AdverseEvent)) is None


def test_the_lot_signals_page_shows_the_filler_lot_not_the_rescue_lot(browser_client, world):
    treatment, _, _, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    client.post(path, data=event_form(client, path))

    html = browser_client("safety").get("/safety/lot-signals").get_data(as_text=True)

    assert "JUV-PAGE" in html and "HYL-PAGE" not in html


def test_the_event_page_links_a_rescue_drawn_before_the_event_was_recorded(browser_client, world, session):
    treatment = start_treatment(world, "P-LATER", at=utcnow())
    syringe = world.container("filler", lot="JUV-LATE")
    draw(world, treatment, syringe, "0.5", "mL", area="lip", at=utcnow())
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    client.post(path, data=event_form(client, path))
    session.expire_all()
    event = session.scalar(select(AdverseEvent))
    # The patient back in a rescue treatment of its own: Hylenex from the kit, the event not named at the cart.
    rescue_visit = start_treatment(world, event.patient, at=utcnow())
    hylenex = world.container("hylenex", lot="HYL-LATE")
    rescue = draw(world, rescue_visit, hylenex, "150", area="lip", reason="emergency", at=utcnow()).draw
    world.session.flush()
    page_path = f"/adverse-events/{event.id}"
    html = client.get(page_path).get_data(as_text=True)
    offered = section(html, "rescue-candidates")
    assert hylenex.label_code in offered and f'name="draw_id" value="{rescue.id}"' in offered

    linked = client.post(f"{page_path}/rescues", data={"csrf_token": csrf_token(client, page_path),
                                                       "draw_id": str(rescue.id)}, follow_redirects=True)

    html = linked.get_data(as_text=True)
    assert "Rescue linked" in html
    assert hylenex.label_code in section(html, "rescues") and "rescue-candidates" not in html
    assert "HYL-LATE" not in section(html, "linked")
    session.expire_all()
    assert [r.draw_id for r in session.get(AdverseEvent, event.id).rescues] == [rescue.id]


def test_linking_a_dose_that_cannot_be_the_rescue_is_refused_in_words(browser_client, world, session):
    treatment, syringe, _, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    client.post(path, data=event_form(client, path))
    session.expire_all()
    event = session.scalar(select(AdverseEvent))
    filler_draw = next(d for d in treatment.draws if d.container_id == syringe.id)
    page_path = f"/adverse-events/{event.id}"

    page = client.post(f"{page_path}/rescues", data={"csrf_token": csrf_token(client, page_path),
                                                     "draw_id": str(filler_draw.id)}, follow_redirects=True)

    html = page.get_data(as_text=True)
    assert 'data-code="validation_error"' in html and "Only hyaluronidase" in html
    session.expire_all()
    assert len(session.get(AdverseEvent, event.id).rescues) == 1  # the emergency dose only
