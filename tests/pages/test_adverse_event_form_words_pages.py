"""A nurse who forgets to choose what happened (or the severity) on the adverse event form is told in the form's
own words which question to answer, not the API's codes ("kind: choose one of vascular_occlusion, ...")."""

from __future__ import annotations

import html as html_lib

import pytest
from sqlalchemy import func, select

from inventory.adverse_events.models import AdverseEvent
from tests.pages.test_adverse_event_rescue_pages import event_form, treated_first


@pytest.mark.parametrize(("field", "words"), [
    ("kind", "What happened: choose one."),
    ("severity", "Severity: choose one."),
])
def test_a_question_left_unanswered_is_named_in_the_forms_words(browser_client, world, session, field, words):
    treatment, _, _, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"
    form = event_form(client, path)
    del form[field]

    page = client.post(path, data=form)

    html = html_lib.unescape(page.get_data(as_text=True))
    assert page.status_code == 422, html
    assert words in html
    assert "vascular_occlusion" not in html.split("<main", 1)[-1].split("<form", 1)[0]
    assert session.scalar(select(func.count(AdverseEvent.id))) == 0


def test_a_value_not_on_the_list_names_the_choices_in_words(browser_client, world, session):
    treatment, _, _, _ = treated_first(world)
    client = browser_client("nurse")
    path = f"/cart/treatments/{treatment.id}/adverse-event"

    page = client.post(path, data=event_form(client, path, outcome="fine"))

    html = html_lib.unescape(page.get_data(as_text=True))
    assert page.status_code == 422, html
    assert "Outcome: choose one of Ongoing, Recovering, Resolved, Resolved with sequelae, Unknown." in html
