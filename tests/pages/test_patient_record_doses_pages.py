"""The patient's record says what the treatment's page says of each dose: one confirmed past a label's limit, with
the nurse's reason, one given with a warning, and the follow-up set.

QA found the record (Patients, then her name) listing a Botox dose that took the session to 68 U as any other:
the confirmation above the label's 64 U and its reason, and the follow-up date, were only on the treatment's page,
where a nurse preparing her next visit does not look.
"""

from __future__ import annotations

import datetime as dt

from tests.factories import World, draw, patient, reconstitute, start_treatment


def test_the_record_shows_a_confirmed_dose_with_its_reason_a_warning_and_the_follow_up(
        browser_client, world: World, session):
    tess = patient(world, "P-2001", name="Tess Record")
    treatment = start_treatment(world, tess)
    vial = reconstitute(world, world.container("botox"))
    draw(world, treatment, vial, "60")  # glabella, above its usual range: a warning
    draw(world, treatment, vial, "8", area="forehead", confirm=["above_label_max"],
         confirm_reason="touch-up agreed at review")
    treatment.follow_up_on = follow_up = treatment.started_at.date() + dt.timedelta(days=14)
    session.flush()

    page = browser_client("nurse").get(f"/patients/{tess.id}").get_data(as_text=True)
    assert "dose confirmed (above the label&#39;s maximum): touch-up agreed at review" in page
    assert 'data-code="above_typical_range"' in page
    assert f"Follow-up on {follow_up.day} {follow_up:%b %Y}" in page
