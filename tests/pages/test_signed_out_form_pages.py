"""QA on a shared cart computer: an admin deactivated a nurse (or reset her password) while her treatment page was
open; her Close or Record draw went to "Sign in to continue." with next= the form's own address, which only takes
a POST, so the next nurse to sign in landed on "The method is not allowed" and nothing said the action was lost."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from inventory.admin import service as admin
from tests.factories import EVERYWHERE, NOW, patient, start_treatment
from tests.pages.conftest import csrf_token


def test_a_form_sent_after_the_session_ended_says_nothing_was_saved_and_leads_back_to_its_page(
        browser_client, world, session):
    treatment = start_treatment(world, patient(world, "P-77", name="Ana Ruiz"), user="nurse")
    session.flush()
    client = browser_client("nurse")
    page = f"/cart/treatments/{treatment.id}"
    token = csrf_token(client, page)
    admin.update_user(session, actor=world.users["admin"], scope=EVERYWHERE, user_id=world.users["nurse"].id,
                      active=False, now=NOW)
    session.flush()

    sent = client.post(f"{page}/close", data={"csrf_token": token}, headers={"Referer": f"http://localhost{page}"})

    assert sent.status_code == 302
    where = urlsplit(sent.location)
    assert where.path == "/login" and parse_qs(where.query)["next"] == [page]
    shown = client.get(sent.location).get_data(as_text=True)
    assert "You were signed out, so what you sent was not saved." in shown
    session.refresh(treatment)
    assert not treatment.is_closed


def test_a_page_asked_for_signed_out_opens_after_sign_in(browser_client, world):
    asked = browser_client().get("/kits?clinic_id=1")
    where = urlsplit(asked.location)
    assert where.path == "/login" and parse_qs(where.query)["next"] == ["/kits?clinic_id=1"]
