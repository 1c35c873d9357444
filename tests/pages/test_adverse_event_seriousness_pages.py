"""The event's page shows whether the event is serious in the regulators' sense and why, and each suspect
product's manufacturer, or that it is not on file."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.adverse_events.models import AdverseEvent
from inventory.models import utcnow
from tests.factories import draw, start_treatment
from tests.pages.conftest import csrf_token
from tests.pages.test_adverse_event_rescue_pages import event_form, section, treated_first


def recorded(browser_client, world, session, **form) -> tuple[object, AdverseEvent]:
    treatment, _, _, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    page = client.post(path, data=event_form(client, path, **form))
    assert page.status_code == 302, page.get_data(as_text=True)
    session.expire_all()
    return client, session.scalar(select(AdverseEvent))


def report_text(html: str) -> str:
    match = re.search(r'<pre class="report-text" id="report-text">(.*?)</pre>', html, re.S)
    assert match
    return match.group(1)


def test_a_severe_rescued_occlusion_is_shown_serious_with_why(browser_client, world, session):
    client, event = recorded(browser_client, world, session, severity="severe")

    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)

    shown = re.search(r'<dd id="seriousness" data-serious="(\w+)">(.*?)</dd>', html, re.S)
    assert shown and shown.group(1) == "yes"
    assert "vascular occlusion" in shown.group(2) and "hyaluronidase given to reverse it" in shown.group(2)
    report = report_text(html)
    assert "Serious: yes\n" in report and "Seriousness criteria: vascular occlusion" in report
    assert "Severity: Severe" in report


def test_a_mild_bruise_is_shown_not_serious_with_what_would_make_it_so(browser_client, world, session):
    treatment = start_treatment(world, "P-BRUISE", at=utcnow())
    draw(world, treatment, world.container("filler", lot="JUV-BRUISE"), "0.3", "mL", area="lip", at=utcnow())
    world.session.flush()
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    client.post(path, data=event_form(client, path, kind="bruising_swelling", severity="mild"))
    session.expire_all()
    event = session.scalar(select(AdverseEvent))

    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)

    shown = re.search(r'<dd id="seriousness" data-serious="(\w+)">(.*?)</dd>', html, re.S)
    assert shown and shown.group(1) == "no"
    assert shown.group(2).startswith("No: no criterion on record") and "set the severity to Serious" in shown.group(2)
    assert "Serious: no\n" in report_text(html)


def test_the_page_names_the_manufacturer_and_says_when_it_is_not_on_file(browser_client, world, session):
    client, event = recorded(browser_client, world, session)

    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)
    assert "Allergan Aesthetics (AbbVie)" in section(html, "linked")
    assert "Product 1 manufacturer: Allergan Aesthetics (AbbVie)" in report_text(html)

    world.filler.manufacturer = ""
    session.flush()
    html = client.get(f"/adverse-events/{event.id}").get_data(as_text=True)
    assert "manufacturer not on file: add it in the catalog" in section(html, "linked")
    assert "Product 1 manufacturer: manufacturer not on file: add it in the catalog" in report_text(html)


def test_an_admin_is_sent_to_the_catalog_to_add_a_missing_manufacturer(browser_client, world, session):
    _, event = recorded(browser_client, world, session)
    world.filler.manufacturer = ""
    session.flush()

    html = browser_client("admin").get(f"/adverse-events/{event.id}").get_data(as_text=True)

    assert f'href="/catalog/{world.filler.id}/edit"' in section(html, "linked")


def test_the_update_form_keeps_an_occlusion_serious_when_its_severity_is_lowered(browser_client, world, session):
    client, event = recorded(browser_client, world, session, severity="serious")
    path = f"/adverse-events/{event.id}"

    page = client.post(path, data={"csrf_token": csrf_token(client, path), "severity": "mild"},
                       follow_redirects=True)

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert 'data-serious="yes"' in html and "Serious: yes\n" in report_text(html)
