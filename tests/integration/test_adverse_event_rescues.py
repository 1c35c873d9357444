"""Emergency hyaluronidase is the rescue of the event it treated, never one of its suspects: recording the
event, the regulator's report, the lot signals and events recorded before this rule all read it so."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from inventory.adverse_events import models as adverse_event_models
from inventory.adverse_events import service as adverse_events
from inventory.adverse_events.models import AdverseEvent, AdverseEventContainer
from inventory.cart import service as cart
from inventory.models import AuditEvent
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, NOW, draw, refusal, reverse, start_treatment
from tests.integration.test_adverse_events import record

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def treated_first(world, ref="P-VO", *, filler_lot="JUV-1", hylenex_lot="HYL-1"):
    """0.5 mL of filler into the lip, then Hylenex from the kit before anyone records the occlusion."""
    treatment = start_treatment(world, ref)
    syringe = world.container("filler", lot=filler_lot)
    draw(world, treatment, syringe, "0.5", "mL", area="lip")
    hylenex = world.container("hylenex", lot=hylenex_lot)
    rescue = draw(world, treatment, hylenex, "150", area="lip", reason=cart.EMERGENCY).draw
    return treatment, syringe, hylenex, rescue


def reread(world, event: AdverseEvent) -> AdverseEvent:
    world.session.expire_all()
    return adverse_events.get_event(world.session, viewer=world.users["safety"], scope=EVERYWHERE, event_id=event.id)


def test_the_kit_reason_is_the_carts(world):
    assert adverse_event_models.EMERGENCY == cart.EMERGENCY


def test_recording_makes_emergency_hyaluronidase_the_rescue_and_leaves_it_out_of_the_causes(world):
    treatment, syringe, hylenex, rescue = treated_first(world)

    event = reread(world, record(world, treatment, severity="serious"))

    assert [link.container_id for link in event.suspect_links] == [syringe.id]
    assert [link.container_id for link in event.links] == [syringe.id]  # no link row written for the rescue
    assert [r.draw_id for r in event.rescues] == [rescue.id]
    assert [lot.number for lot in adverse_events.lots_of(event)] == ["JUV-1"]
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "adverse_event.recorded"))
    assert (audit.details["container_ids"], audit.details["rescue_draw_ids"]) == ([syringe.id], [rescue.id])
    linked = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "adverse_event.rescue_linked"))
    assert linked.details["draw_id"] == rescue.id


def test_the_regulator_report_has_one_suspect_product_and_the_rescue_apart(world):
    treatment, _, _, _ = treated_first(world)
    event = reread(world, record(world, treatment, severity="serious"))

    report = adverse_events.regulator_report(world.session, event, now=NOW)

    lines = dict(report.lines())
    assert lines["Product 1 lot"] == "JUV-1" and "Product 2 lot" not in lines
    assert lines["Treatment of the event"].startswith("150 USP U Hylenex")
    rows = list(csv.DictReader(io.StringIO(adverse_events.report_csv(report))))
    assert [(r["lot"], r["serious"]) for r in rows] == [("JUV-1", "yes")]


def test_lot_signals_never_count_the_rescue_lot(world):
    # Two occlusions rescued from one Hylenex lot: the filler lots carry them, the Hylenex lot nothing.
    for n in range(2):
        treatment, _, _, _ = treated_first(world, f"P-{n}", filler_lot=f"JUV-{n}", hylenex_lot="HYL-KIT")
        record(world, treatment, severity="serious")

    signals = adverse_events.lot_signals(world.session, scope=EVERYWHERE)

    assert sorted((s.lot.number, s.events, s.by_severity["serious"]) for s in signals) == \
        [("JUV-0", 1, 1), ("JUV-1", 1, 1)]


def test_hyaluronidase_given_as_a_planned_dissolution_is_still_counted_as_a_cause(world):
    treatment = start_treatment(world, "P-DISSOLVE")
    hylenex = world.container("hylenex", lot="HYL-PLAN")
    draw(world, treatment, hylenex, "30", area="lip")  # no emergency: a treatment of its own
    event = reread(world, record(world, treatment, kind="allergic_reaction"))

    assert [link.container_id for link in event.suspect_links] == [hylenex.id] and event.rescues == []
    assert [s.lot.number for s in adverse_events.lot_signals(world.session, scope=EVERYWHERE)] == ["HYL-PLAN"]


def test_an_event_recorded_before_the_rule_no_longer_counts_its_rescue_as_a_cause(world):
    # What the old code wrote: the Hylenex vial linked as a cause, no rescue row. No migration rewrites it;
    # the read side works the rescue out of the draw's reason.
    treatment = start_treatment(world, "P-OLD")
    syringe = world.container("filler", lot="JUV-1")
    draw(world, treatment, syringe, "0.5", "mL", area="lip")
    event = record(world, treatment, severity="serious")
    hylenex = world.container("hylenex", lot="HYL-OLD")
    rescue = draw(world, treatment, hylenex, "150", area="lip", reason=cart.EMERGENCY).draw
    world.session.add(AdverseEventContainer(adverse_event_id=event.id, container_id=hylenex.id,
                                            lot_id=hylenex.lot_id))
    world.session.flush()
    event = reread(world, event)
    assert sorted(link.container_id for link in event.links) == sorted([syringe.id, hylenex.id])

    assert [link.container_id for link in event.suspect_links] == [syringe.id]
    assert [lot.number for lot in adverse_events.lots_of(event)] == ["JUV-1"]
    assert [s.lot.number for s in adverse_events.lot_signals(world.session, scope=EVERYWHERE)] == ["JUV-1"]
    assert [r.lot for r in adverse_events.regulator_report(world.session, event, now=NOW).products] == ["JUV-1"]
    assert adverse_events.list_events(world.session, viewer=world.users["safety"], scope=EVERYWHERE,
                                      lot_id=hylenex.lot_id) == []
    # ... and the dose is offered to be linked as its rescue, which the report then names.
    assert [d.id for d in adverse_events.rescue_candidates(world.session, scope=EVERYWHERE, event=event)] \
        == [rescue.id]
    nurse = world.users["nurse"]
    linked = adverse_events.link_rescue_afterwards(world.session, actor=nurse, scope=Scope.for_user(nurse),
                                                   event_id=event.id, draw_id=rescue.id, now=NOW)
    assert [r.draw_id for r in linked.rescues] == [rescue.id]
    assert "Hylenex" in dict(adverse_events.regulator_report(world.session, linked, now=NOW).lines())[
        "Treatment of the event"]


def test_a_dose_linked_afterwards_as_the_rescue_is_no_longer_read_as_a_cause(world):
    # Hylenex drawn without the emergency reason, linked by default, then named as the event's rescue.
    treatment = start_treatment(world, "P-LATE")
    syringe = world.container("filler", lot="JUV-L")
    draw(world, treatment, syringe, "0.5", "mL", area="lip")
    hylenex = world.container("hylenex", lot="HYL-L")
    dose = draw(world, treatment, hylenex, "150", area="lip").draw
    event = record(world, treatment)
    assert sorted(link.container_id for link in event.suspect_links) == sorted([syringe.id, hylenex.id])
    nurse = world.users["nurse"]

    linked = adverse_events.link_rescue_afterwards(world.session, actor=nurse, scope=Scope.for_user(nurse),
                                                   event_id=event.id, draw_id=dose.id, now=NOW)

    assert [link.container_id for link in linked.suspect_links] == [syringe.id]
    assert [s.lot.number for s in adverse_events.lot_signals(world.session, scope=EVERYWHERE)] == ["JUV-L"]


def test_a_reversed_emergency_draw_is_neither_rescue_nor_cause(world):
    treatment = start_treatment(world, "P-REV")
    syringe = world.container("filler", lot="JUV-R")
    draw(world, treatment, syringe, "0.5", "mL", area="lip")
    wrong = draw(world, treatment, world.container("hylenex", lot="HYL-R"), "150", area="lip",
                 reason=cart.EMERGENCY)
    reverse(world, wrong.draw)

    event = reread(world, record(world, treatment))

    assert [link.container_id for link in event.suspect_links] == [syringe.id] and event.rescues == []
    nurse = world.users["nurse"]
    error = refusal(lambda: adverse_events.link_rescue_afterwards(
        world.session, actor=nurse, scope=Scope.for_user(nurse), event_id=event.id, draw_id=wrong.draw.id, now=NOW))
    assert (error.code, error.details["field"]) == ("validation_error", "draw_id")
    assert "reversed" in error.message


def test_naming_the_rescue_among_the_causes_is_refused_and_nothing_is_recorded(world):
    treatment, syringe, hylenex, _ = treated_first(world)

    error = refusal(lambda: record(world, treatment, container_ids=[syringe.id, hylenex.id]))

    assert (error.code, error.details["field"], error.details["container_ids"]) == \
        ("validation_error", "container_ids", [hylenex.id])
    assert "Hylenex" in error.message and hylenex.label_code in error.message and "HYL-1" in error.message
    assert world.session.scalar(select(AdverseEvent)) is None
