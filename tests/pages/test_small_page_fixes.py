"""The pages' side of QA's small defects: the recall case's CSV names its charset once, and a follow-up marked
done by mistake can be undone, as the API's ``{"follow_up_done": false}`` does."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Treatment, utcnow
from recall import services
from tests.api.test_recall_api import Data
from tests.factories import NOW, start_treatment
from tests.pages.conftest import csrf_token


@pytest.mark.parametrize("which", ["patients", "notifications", "containers"])
def test_the_recall_case_pages_csv_names_its_charset_once(browser_client, world, which):
    data = Data(world)
    case = services.open_recall(world.session, actor=world.users["safety"], lot_ids=[data.lot.id],
                                reason="Notice 19", recall_class="I", source="manufacturer", now=NOW)
    response = browser_client("safety").get(f"/recalls/{case.id}/export/{which}.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_a_follow_up_marked_done_by_mistake_is_due_again_after_reopen(browser_client, world, session):
    treatment = start_treatment(world, "P-FOLLOW")
    session.flush()
    client = browser_client("nurse")
    cart_url = f"/cart/treatments/{treatment.id}"
    due = (utcnow() + dt.timedelta(days=2)).date()
    client.post(f"{cart_url}/follow-up", data={"csrf_token": csrf_token(client, cart_url),
                                               "follow_up_on": due.isoformat()})
    client.post(f"/follow-ups/{treatment.id}/done", data={"csrf_token": csrf_token(client, "/follow-ups")})
    assert "Patient P-FOLLOW</a>" not in client.get("/follow-ups").get_data(as_text=True)
    offered = client.get(cart_url).get_data(as_text=True)  # the treatment offers the undo beside "done"
    assert f'action="/follow-ups/{treatment.id}/reopen"' in offered and "Not done after all" in offered

    page = client.post(f"/follow-ups/{treatment.id}/reopen", data={"csrf_token": csrf_token(client, cart_url)},
                       follow_redirects=True)

    assert page.status_code == 200
    assert f"Follow-up of Patient P-FOLLOW is not done: due again on {due.isoformat()}." in page.get_data(as_text=True)
    assert "Patient P-FOLLOW</a>" in client.get("/follow-ups").get_data(as_text=True)
    session.expire_all()
    assert session.get(Treatment, treatment.id).follow_up_done_at is None
    reopened = session.scalars(select(AuditEvent).where(AuditEvent.action == "treatment.follow_up_reopened")).one()
    assert (reopened.object_id, reopened.actor_id) == (str(treatment.id), world.users["nurse"].id)


def test_reopening_a_treatment_without_a_follow_up_is_refused_in_words(browser_client, world, session):
    treatment = start_treatment(world, "P-NONE")
    session.flush()
    client = browser_client("nurse")
    cart_url = f"/cart/treatments/{treatment.id}"
    page = client.post(f"/follow-ups/{treatment.id}/reopen", data={"csrf_token": csrf_token(client, cart_url)},
                       follow_redirects=True)
    assert 'data-code="validation_error"' in page.get_data(as_text=True)
    assert "This treatment has no follow-up to reopen." in page.get_data(as_text=True)
