"""The case page's note field clears a line's note when emptied before saving, as the API clears it when a status
changes without one (QA: an unreachable line kept "spoke to her"): one rule, in recall.services.update_patient."""

from __future__ import annotations

from sqlalchemy import select

from recall import services
from recall.models import RecallPatient
from tests import recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, patient, reconstitute
from tests.pages.conftest import csrf_token


def line_of(session, case_id: int, patient_id: int) -> RecallPatient:
    session.expire_all()
    return session.scalar(select(RecallPatient).where(RecallPatient.case_id == case_id,
                                                      RecallPatient.patient_id == patient_id))


def test_the_page_clears_a_note_emptied_before_saving_as_the_api_does(browser_client, world, session):
    vial = reconstitute(world, world.container("botox", lot="NT4821A"))
    ann = patient(world, "L-1", name="Ann Lee")
    rh.give(world, rh.treat(world, ann), vial, "4")
    case_id = services.open_recall(session, actor=world.users["safety"], lot_ids=[vial.lot_id], reason="Notice 7",
                                   recall_class="II", source="manufacturer", now=NOW).id
    services.update_patient(session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case_id,
                            patient_id=ann.id, status="notified", method="phone", note="spoke to her", now=NOW)
    client = browser_client("safety")
    page = f"/recalls/{case_id}"
    # The field showed the note; the safety lead emptied it and chose unreachable.
    response = client.post(f"/recalls/{case_id}/patients/{ann.id}", data={
        "status": "unreachable", "method": "", "note": "", "csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    line = line_of(session, case_id, ann.id)
    assert (line.status.value, line.note) == ("unreachable", None)
    # Left as shown, the note is kept with the new status.
    client.post(f"/recalls/{case_id}/patients/{ann.id}", data={
        "status": "notified", "method": "email", "note": "emailed her", "csrf_token": csrf_token(client, page)})
    client.post(f"/recalls/{case_id}/patients/{ann.id}", data={
        "status": "pending", "method": "", "note": "emailed her", "csrf_token": csrf_token(client, page)})
    assert line_of(session, case_id, ann.id).note == "emailed her"
