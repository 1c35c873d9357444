"""Seriousness follows the regulators' criteria (MedWatch, Yellow Card), not only the severity the reporter
chose: a vascular occlusion rescued with emergency hyaluronidase is serious though graded "severe". The report
names each suspect product's manufacturer, or says it is not on file."""

from __future__ import annotations


import pytest

from tests.api.test_adverse_event_rescue_api import occlusion_treated_first
from tests.api.test_adverse_event_reversed_rescue_api import report_rows
from tests.api.test_safety_api import event_body, filler_drawn

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def test_a_severe_occlusion_rescued_with_emergency_hyaluronidase_is_reported_serious(nurse, api, world):
    treatment, _, _, _ = occlusion_treated_first(nurse, world)

    event = nurse.post("/adverse-events", event_body(treatment, severity="severe")).get_json()

    assert (event["severity"], event["serious"]) == ("severe", True)
    assert "vascular occlusion" in event["serious_reason"] and "hyaluronidase given" in event["serious_reason"]
    (row,) = report_rows(nurse, event["id"])
    assert (row["serious"], row["severity"]) == ("yes", "Severe")
    assert "intervention to prevent permanent damage" in row["serious_reason"]
    signals = api("safety").get("/reports/lot-signals").get_json()["lots"]
    assert [(s["lot"]["number"], s["serious"], s["events_by_severity"]) for s in signals] == \
        [("JUV-1", True, {"severe": 1})]


def test_a_hyaluronidase_rescue_makes_an_event_of_another_kind_serious(nurse, world):
    treatment, _, _, _ = occlusion_treated_first(nurse, world)

    event = nurse.post("/adverse-events", event_body(treatment, kind="other", severity="moderate")).get_json()

    assert event["serious"] is True
    assert event["serious_reason"] == "hyaluronidase given to reverse it: intervention to prevent permanent damage"


def test_a_severe_bruise_is_not_serious_and_the_report_says_what_would_make_it(nurse, world):
    treatment, _ = filler_drawn(nurse, world)

    event = nurse.post("/adverse-events", event_body(treatment, kind="bruising_swelling")).get_json()

    assert (event["severity"], event["serious"]) == ("severe", False)
    (row,) = report_rows(nurse, event["id"])
    assert row["serious"] == "no"
    assert "hospitalisation" in row["serious_reason"] and "set the severity to Serious" in row["serious_reason"]


def test_the_reporter_may_mark_serious_but_never_unmark_an_occlusion(nurse, world):
    treatment, _ = filler_drawn(nurse, world)
    bruise = nurse.post("/adverse-events", event_body(treatment, kind="bruising_swelling",
                                                      severity="serious")).get_json()
    assert (bruise["serious"], bruise["serious_reason"]) == (True, "marked serious by the reporter")

    occlusion = nurse.post("/adverse-events", event_body(treatment, severity="serious")).get_json()
    lowered = nurse.patch(f"/adverse-events/{occlusion['id']}", {"severity": "mild"}).get_json()

    assert (lowered["severity"], lowered["serious"]) == ("mild", True)
    assert [r["serious"] for r in report_rows(nurse, occlusion["id"])] == ["yes"]


def test_a_severe_allergic_reaction_is_serious_and_a_moderate_one_is_not(nurse, world):
    treatment, _ = filler_drawn(nurse, world)

    severe = nurse.post("/adverse-events", event_body(treatment, kind="allergic_reaction")).get_json()
    moderate = nurse.post("/adverse-events", event_body(treatment, kind="allergic_reaction",
                                                        severity="moderate")).get_json()

    assert (severe["serious"], moderate["serious"]) == (True, False)
    assert "anaphylaxis" in severe["serious_reason"]


def test_the_report_names_the_manufacturer_or_says_it_is_not_on_file(nurse, world, session):
    treatment, _ = filler_drawn(nurse, world)
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()

    (row,) = report_rows(nurse, event["id"])
    assert (row["product"], row["manufacturer"]) == ("Juvederm Volbella XC 0.55 mL", "Allergan Aesthetics (AbbVie)")

    world.filler.manufacturer = ""
    session.flush()
    (row,) = report_rows(nurse, event["id"])
    assert row["manufacturer"] == "manufacturer not on file: add it in the catalog"
