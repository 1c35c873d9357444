"""The access log a clinic-level admin reads is her clinics' own: an entry at one of her clinics, or one with no
clinic made by a user who works only at her clinics (the users she manages), never an entry naming another
clinic's patient; a chain-level admin reads the whole chain's, as before."""

from __future__ import annotations

import re

import pytest

from inventory.models import Role
from inventory.services.access_log import VIEWED, record_access
from inventory.services.permissions import Scope
from recall import services as recall
from tests.factories import NOW, make_user, patient


@pytest.fixture
def log(world, session):
    """London's and New York's patients and a log with entries of both, by London-only, New York-only and
    chain-level users, some naming a clinic and some (searches, traces) none."""
    london, new_york = world.clinic, world.other_clinic
    world.users["lon_admin"] = make_user(session, "lon-admin", Role.ADMIN, [london])
    lon_safety = world.lon_safety_lead()
    hart = patient(world, "P-1001", name="Amelia Hart")
    stone = patient(world, "NY-77", name="Brooke Stone", clinic=new_york)
    session.flush()
    nurse, nyc_nurse, safety = world.users["nurse"], world.users["other_nurse"], world.users["safety"]

    def entry(who, details, clinic=None, action=VIEWED):
        return record_access(session, viewer=who, action=action, object_type="patient", object_id=None, now=NOW,
                             details=details, clinic_id=clinic.id if clinic else None).id

    ids = {
        "london_record": entry(nurse, {"view": "patient_record", "patient_ids": [hart.id]}, london),
        "london_search": entry(nurse, {"view": "patients_search", "query": "hart", "patient_ids": [hart.id]}),
        "chain_at_london": entry(safety, {"view": "patient_record", "patient_id": hart.id}, london),
        "nyc_record": entry(nyc_nurse, {"view": "patient_record", "patient_ids": [stone.id]}, new_york),
        "nyc_search": entry(nyc_nurse, {"view": "patients_search", "query": "brooke st", "patient_ids": [stone.id]}),
        "chain_trace": entry(safety, {"view": "lot_trace", "lot_ids": [], "patient_ids": [hart.id, stone.id]}),
        "chain_no_patient": entry(safety, {"view": "lot_trace", "lot_ids": [], "patient_ids": []}),
        # A London user's entry naming New York's patient (she worked there once): not London's to read.
        "london_user_names_nyc": entry(nurse, {"view": "patient_record", "patient_ids": [stone.id]}),
        "nyc_patient_at_london": entry(safety, {"view": "patient_record", "patient_ids": [stone.id]}, london),
        "lon_safety_change": entry(lon_safety, {"lot_id": 1, "reason": "London's own check"},
                                   action="lot.quarantined"),
        "chain_change": entry(safety, {"lot_id": 1, "reason": "Chain-wide alert"}, action="lot.quarantined"),
    }
    session.flush()
    return ids, hart, stone


LONDON_SEES = {"london_record", "london_search", "chain_at_london"}
LONDON_CHANGES = {"lon_safety_change"}


def _shown(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<td data-event="(\d+)"', html)}


def _named(ids: dict[str, int], keys: set[str]) -> set[int]:
    return {ids[k] for k in keys}


def test_a_clinic_admin_reads_only_her_clinics_entries(browser_client, log):
    ids, _, _ = log
    html = browser_client("lon_admin").get("/access-log").get_data(as_text=True)
    assert _shown(html) == _named(ids, LONDON_SEES)
    assert "brooke st" not in html and "Brooke Stone" not in html  # what New York typed, whom it found


def test_a_chain_admin_still_reads_the_whole_chain(browser_client, log):
    ids, _, _ = log
    html = browser_client("admin").get("/access-log").get_data(as_text=True)
    assert _shown(html) == _named(ids, set(ids) - {"lon_safety_change", "chain_change"})
    assert "brooke st" in html


def test_another_clinics_patient_answers_as_unknown(browser_client, log):
    ids, hart, stone = log
    admin = browser_client("lon_admin")
    assert _shown(admin.get(f"/access-log?patient={stone.id}").get_data(as_text=True)) == set()
    assert _shown(admin.get("/access-log?patient=999999").get_data(as_text=True)) == set()
    assert _shown(admin.get(f"/access-log?patient={hart.id}").get_data(as_text=True)) == _named(ids, LONDON_SEES)


def test_the_who_filter_lists_only_the_users_she_manages(browser_client, log):
    html = browser_client("lon_admin").get("/access-log").get_data(as_text=True)
    offered = set(re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', html))
    assert offered == {"nurse", "lon-manager", "lon-admin", "lon-safety"}
    chain = browser_client("admin").get("/access-log").get_data(as_text=True)
    assert {"nyc-nurse", "safety", "admin"} <= set(re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', chain))


def test_the_change_log_follows_the_same_rule(browser_client, log):
    ids, _, _ = log
    html = browser_client("lon_admin").get("/access-log?kind=changes").get_data(as_text=True)
    assert _shown(html) == _named(ids, LONDON_CHANGES) and "Chain-wide alert" not in html
    chain = browser_client("admin").get("/access-log?kind=changes").get_data(as_text=True)
    assert _shown(chain) == _named(ids, {"lon_safety_change", "chain_change"})


def test_a_page_of_entries_is_filled_past_the_ones_she_may_not_read(world, session, log):
    ids, _, _ = log
    london = Scope(frozenset({world.clinic.id}))
    first = recall.access_log(session, scope=london, limit=2)
    assert [e.event.id for e in first] == [ids["chain_at_london"], ids["london_search"]]
    older = recall.access_log(session, scope=london, limit=2, before_id=first[-1].event.id)
    assert [e.event.id for e in older] == [ids["london_record"]]
