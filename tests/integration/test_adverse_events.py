"""Adverse events: linked through their treatment's draws to containers and lots, the rescue hyaluronidase
linked to its cause, per-lot signals and the regulator's fields."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.adverse_events import service as adverse_events
from inventory.models import AuditEvent
from inventory.services.permissions import Scope
from tests.factories import (
    EVERYWHERE,
    NOW,
    draw,
    patient,
    reconstitute,
    refusal,
    reverse,
    start_treatment,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

TODAY = dt.date(2026, 6, 15)


def record(world, treatment, *, user="nurse", kind="vascular_occlusion", severity="severe", outcome="ongoing",
           onset=TODAY, **kwargs):
    actor = world.users[user]
    return adverse_events.record(
        world.session, actor=actor, scope=Scope.for_user(actor), treatment_id=treatment.id, kind=kind,
        onset_date=onset, severity=severity, outcome=outcome, description="Blanching of the upper lip", now=NOW,
        **kwargs,
    )


def filler_treatment(world, ref="P-1", lot="VB-LOT-1", *, with_toxin=False):
    treatment = start_treatment(world, ref)
    syringe = world.container("filler", lot=lot)
    draw(world, treatment, syringe, "0.3", "mL", area="lip")
    vial = None
    if with_toxin:
        vial = world.container("botox", lot="BX-LOT-1")
        reconstitute(world, vial)
        draw(world, treatment, vial, "20")
    return treatment, syringe, vial


def test_an_event_is_linked_to_every_container_and_lot_its_treatment_drew_from(world):
    treatment, syringe, vial = filler_treatment(world, with_toxin=True)
    mistake = world.container("firm_filler", lot="VOL-1")
    wrong = draw(world, treatment, mistake, "0.1", "mL", area="lip")
    reverse(world, wrong.draw)  # a reversed draw never reached the patient

    event = record(world, treatment)

    assert sorted(link.container_id for link in event.links) == sorted([syringe.id, vial.id])
    assert {lot.number for lot in adverse_events.lots_of(event)} == {"VB-LOT-1", "BX-LOT-1"}
    assert event.patient_id == treatment.patient_id and event.clinic_id == world.clinic.id
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "adverse_event.recorded"))
    assert audit.object_id == str(event.id)
    assert audit.details["container_ids"] == sorted([syringe.id, vial.id])


def test_the_nurse_may_link_only_the_containers_she_picks_among_those_drawn(world):
    treatment, syringe, vial = filler_treatment(world, with_toxin=True)
    event = record(world, treatment, container_ids=[syringe.id])
    assert [link.container_id for link in event.links] == [syringe.id]

    stranger = world.container("botox", lot="OTHER")
    error = refusal(lambda: record(world, treatment, container_ids=[stranger.id]))
    assert (error.code, error.details["field"]) == ("validation_error", "container_ids")


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "headache"}, "kind"),
    ({"severity": "awful"}, "severity"),
    ({"onset": TODAY + dt.timedelta(days=1)}, "onset_date"),
    ({"onset": TODAY - dt.timedelta(days=1)}, "onset_date"),  # before the treatment
])
def test_an_event_with_a_value_out_of_its_list_or_an_impossible_onset_is_refused(world, changes, field):
    treatment, _, _ = filler_treatment(world)
    error = refusal(lambda: record(world, treatment, **changes))
    assert (error.code, error.details["field"]) == ("validation_error", field)


def test_another_clinics_treatment_is_not_found(world):
    treatment = start_treatment(world, "NY-1", user="other_nurse", clinic=world.other_clinic)
    assert refusal(lambda: record(world, treatment)).code == "not_found"


def test_the_safety_lead_reads_every_event_of_their_clinics_a_nurse_only_her_own(world):
    treatment, _, _ = filler_treatment(world)
    mine = record(world, treatment)
    ny = start_treatment(world, "NY-1", user="other_nurse", clinic=world.other_clinic)
    theirs = record(world, ny, user="other_nurse")
    other_nurse_sees = adverse_events.list_events(world.session, viewer=world.users["other_nurse"],
                                                  scope=Scope.for_user(world.users["other_nurse"]))
    assert [e.id for e in other_nurse_sees] == [theirs.id]
    safety = world.lon_safety_lead()
    assert [e.id for e in adverse_events.list_events(world.session, viewer=safety, scope=Scope.for_user(safety))] \
        == [mine.id]
    chain = adverse_events.list_events(world.session, viewer=world.users["safety"], scope=EVERYWHERE)
    assert {e.id for e in chain} == {mine.id, theirs.id}
    manager = world.users["clinic_manager"]
    assert adverse_events.list_events(world.session, viewer=manager, scope=Scope.for_user(manager)) == []


def test_events_are_found_by_lot_and_by_treatment(world):
    first, _, _ = filler_treatment(world, "P-1", "LOT-A")
    second, _, _ = filler_treatment(world, "P-2", "LOT-B")
    a, b = record(world, first), record(world, second)
    lot_a = adverse_events.lots_of(a)[0]
    found = adverse_events.list_events(world.session, viewer=world.users["safety"], scope=EVERYWHERE,
                                       lot_id=lot_a.id)
    assert [e.id for e in found] == [a.id]
    by_treatment = adverse_events.list_events(world.session, viewer=world.users["safety"], scope=EVERYWHERE,
                                              treatment_id=second.id)
    assert [e.id for e in by_treatment] == [b.id]


def test_an_update_changes_the_outcome_and_follow_up_and_is_audited(world):
    treatment, _, _ = filler_treatment(world)
    event = record(world, treatment)
    adverse_events.update(world.session, actor=world.users["nurse"], scope=Scope.for_user(world.users["nurse"]),
                          event_id=event.id, now=NOW, changes={"outcome": "resolved",
                                                               "follow_up_notes": "Capillary refill normal at 2 h"})
    assert event.outcome.value == "resolved" and event.updated_at == NOW
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "adverse_event.updated"))
    assert audit.details["before"] == {"outcome": "ongoing", "follow_up_notes": None}
    assert audit.details["after"]["outcome"] == "resolved"


def test_a_rescue_hyaluronidase_draw_names_the_event_it_treats(world):
    treatment, syringe, _ = filler_treatment(world)
    event = record(world, treatment)
    hylenex = world.container("hylenex", lot="HY-1")

    result = draw(world, treatment, hylenex, "150", area="lip", reason="emergency", adverse_event_id=event.id)

    assert result.adverse_event_id == event.id
    world.session.expire(event)
    shown = adverse_events.get_event(world.session, viewer=world.users["nurse"],
                                     scope=Scope.for_user(world.users["nurse"]), event_id=event.id)
    assert [(r.draw.id, r.draw.quantity, r.draw.injector_id) for r in shown.rescues] == \
        [(result.draw.id, Decimal(150), world.users["nurse"].id)]
    assert [link.container_id for link in shown.links] == [syringe.id]  # the cause stays the syringe


def test_only_hyaluronidase_for_the_same_patient_is_linked_as_a_rescue(world):
    treatment, _, _ = filler_treatment(world)
    event = record(world, treatment)
    toxin = world.container("botox", lot="BX-2")
    reconstitute(world, toxin)
    error = refusal(lambda: draw(world, treatment, toxin, "4", adverse_event_id=event.id))
    assert (error.code, error.details["field"]) == ("validation_error", "adverse_event_id")
    other = start_treatment(world, "P-OTHER")
    error = refusal(lambda: draw(world, other, world.container("hylenex", lot="HY-2"), "150", area="lip",
                                 adverse_event_id=event.id))
    assert (error.code, error.details["field"]) == ("validation_error", "adverse_event_id")


def test_a_lot_with_an_unusual_rate_stands_out_against_its_products_other_lots(world):
    # Lot BAD reached 4 patients, 3 with an event; lot GOOD reached 10 patients, 1 with an event.
    bad_events = []
    for n in range(4):
        treatment, _, _ = filler_treatment(world, f"B-{n}", "BAD")
        if n < 3:
            bad_events.append(record(world, treatment, kind="nodule" if n else "vascular_occlusion",
                                     severity="serious" if n == 0 else "moderate"))
    for n in range(10):
        treatment, _, _ = filler_treatment(world, f"G-{n}", "GOOD")
        if n == 0:
            record(world, treatment, kind="bruising_swelling", severity="mild")

    signals = adverse_events.lot_signals(world.session, scope=EVERYWHERE)

    bad, good = signals
    assert (bad.lot.number, bad.patients, bad.events, bad.rate) == ("BAD", 4, 3, Decimal("0.75"))
    assert bad.by_kind == {"vascular_occlusion": 1, "nodule": 2}
    assert bad.by_severity == {"serious": 1, "moderate": 2}
    assert (bad.product_other_patients, bad.product_other_events, bad.product_other_rate) == (10, 1, Decimal("0.1"))
    assert bad.is_unusual and bad.has_serious
    assert (good.lot.number, good.rate, good.product_other_rate, good.is_unusual) == \
        ("GOOD", Decimal("0.1"), Decimal("0.75"), False)
    assert sorted(bad.event_ids) == sorted(e.id for e in bad_events)


def test_lot_signals_count_only_the_callers_clinics(world):
    treatment, _, _ = filler_treatment(world, "P-1", "LON-LOT")
    record(world, treatment)
    ny = start_treatment(world, "NY-1", user="other_nurse", clinic=world.other_clinic)
    syringe = world.container("filler", lot="NY-LOT", location=world.location("Fridge", world.other_clinic))
    draw(world, ny, syringe, "0.3", "mL", area="lip", user="other_nurse")
    record(world, ny, user="other_nurse")
    safety = world.lon_safety_lead()
    assert [s.lot.number for s in adverse_events.lot_signals(world.session, scope=Scope.for_user(safety))] \
        == ["LON-LOT"]


def test_the_regulator_report_holds_product_lot_expiry_age_sex_event_dates_and_outcome(world):
    person = patient(world, "MRN-9", name="Ada Lovelace")
    person.date_of_birth = dt.date(1990, 7, 1)
    treatment = start_treatment(world, person)
    syringe = world.container("filler", lot="VB-77", expiry=dt.date(2027, 9, 30))
    draw(world, treatment, syringe, "0.3", "mL", area="lip")
    event = record(world, treatment, patient_sex="female", severity="serious")
    hylenex = world.container("hylenex", lot="HY-9")
    draw(world, treatment, hylenex, "150", area="lip", reason="emergency", adverse_event_id=event.id)
    world.session.expire(event)
    event = adverse_events.get_event(world.session, viewer=world.users["safety"], scope=EVERYWHERE, event_id=event.id)

    report = adverse_events.regulator_report(world.session, event, now=NOW)

    lines = dict(report.lines())
    assert lines["Patient age at onset"] == "35 years"
    assert lines["Patient sex"] == "Female"
    assert lines["Adverse event"] == "Vascular occlusion" and lines["Serious"] == "yes"
    assert lines["Date of onset"] == lines["Date of treatment (exposure)"] == "2026-06-15"
    assert lines["Product 1 lot"] == "VB-77" and lines["Product 1 expiry"] == "2027-09-30"
    assert lines["Product 1 dose and site"] == "0.3 mL into lip"
    assert "150 USP U Hylenex" in lines["Treatment of the event"]
    rows = list(csv.DictReader(io.StringIO(adverse_events.report_csv(report))))
    assert [(r["lot"], r["expiry"], r["patient_sex"], r["outcome"]) for r in rows] == \
        [("VB-77", "2027-09-30", "Female", "Ongoing")]
