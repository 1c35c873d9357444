"""The patient pages: find a patient, read her record (history, every treatment), keep her contact details."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import select

from inventory.adverse_events import service as adverse_events
from inventory.clinical import queries
from inventory.models import AuditEvent, Clinic, Patient, Role, Treatment, utcnow
from inventory.services.permissions import ROLE_PERMISSIONS, Permission, Scope
from tests.factories import (
    EVERYWHERE,
    NOW,
    World,
    close_treatment,
    draw,
    patient,
    reconstitute,
    reverse,
    start_treatment,
)
from tests.api.conftest import api  # noqa: F401  (the page and the API refuse a contact in the same words)
from tests.pages.conftest import csrf_token
from tests.statements import recorded

_ROW = re.compile(r'<tr data-patient="(\d+)">')


def listed(page: str) -> list[int]:
    """The patient ids of the search's result rows, in the page's order."""
    return [int(i) for i in _ROW.findall(page)]


def treated(world: World, who: Patient, at: dt.datetime, **kwargs) -> Treatment:
    """A closed treatment of ``who`` at ``at``: 20 U of Botox (lot C3709C3) into the glabella."""
    treatment = start_treatment(world, who, at=at, **kwargs)
    fridge = world.location("Fridge", world.session.get(Clinic, who.clinic_id))
    vial = reconstitute(world, world.container("botox", now=at, location=fridge), at=at)
    draw(world, treatment, vial, "20", at=at, **kwargs)
    close_treatment(world, treatment, at=at + dt.timedelta(minutes=30), **kwargs)
    return treatment


# --- the search -------------------------------------------------------------------------------------------


def test_the_search_finds_by_reference_or_name_in_the_callers_clinics_most_recently_treated_first(
        browser_client, world, session):
    amelia = patient(world, "P-1001", name="Amelia Hart")
    omar = patient(world, "P-1002", name="Omar Reyes")
    new_york = patient(world, "P-1003", name="Amelia Stone", clinic=world.other_clinic)
    treated(world, amelia, NOW - dt.timedelta(days=40))
    treated(world, omar, NOW - dt.timedelta(days=2))
    treated(world, new_york, NOW - dt.timedelta(days=1), user="manager")
    session.flush()
    nurse = browser_client("nurse")

    page = nurse.get("/patients?q=P-100").get_data(as_text=True)
    assert listed(page) == [omar.id, amelia.id]  # newest first; New York's patient is not hers to find
    assert "13 Jun 2026" in page and "6 May 2026" in page and "Clinic LON" in page
    assert re.search(r'<input id="q" name="q" class="scan" value="P-100" autofocus', page)
    assert listed(nurse.get("/patients?q=hart%20AMELIA").get_data(as_text=True)) == [amelia.id]
    assert listed(nurse.get("/patients?q=amelia").get_data(as_text=True)) == [amelia.id]
    assert "No patient of your clinic matches" in nurse.get("/patients?q=P-1003").get_data(as_text=True)
    # The other clinic's nurse finds her own patient, never London's.
    nyc = browser_client("other_nurse")
    assert listed(nyc.get("/patients?q=amelia").get_data(as_text=True)) == [new_york.id]
    assert listed(nyc.get("/patients?q=P-1001").get_data(as_text=True)) == []
    # A chain-level manager sees both clinics.
    assert listed(browser_client("manager").get("/patients?q=amelia").get_data(as_text=True)) == [new_york.id,
                                                                                                  amelia.id]


def test_a_reference_typed_as_the_cart_reads_it_finds_the_patient(browser_client, world, session):
    """The cart tells a nurse that "p 1001" is P-1001 (a look-alike reference): the search reads it so too."""
    amelia = patient(world, "P-1001", name="Amelia Hart")
    omar = patient(world, "P-1002", name="Omar Reyes")
    session.flush()
    nurse = browser_client("nurse")
    for typed in ("p 1001", "p1001", "P\u20131001", "\uff30-1001", "P.1001"):
        assert listed(nurse.get("/patients", query_string={"q": typed}).get_data(as_text=True)) == [amelia.id], typed
    both = listed(nurse.get("/patients", query_string={"q": "p 100"}).get_data(as_text=True))
    assert sorted(both) == sorted([amelia.id, omar.id])
    assert listed(nurse.get("/patients", query_string={"q": "--"}).get_data(as_text=True)) == []  # no key: nobody


def test_a_long_list_is_capped_with_a_hint_to_refine_and_an_exact_reference_stays_first(browser_client, world,
                                                                                         session):
    exact = patient(world, "P-20", name="Exact Match")
    session.add_all(Patient(clinic_id=world.clinic.id, external_ref=f"P-20{n:02}", name=f"Someone {n}")
                    for n in range(queries.SEARCH_LIMIT))
    session.flush()
    nurse = browser_client("nurse")
    page = nurse.get("/patients?q=P-20").get_data(as_text=True)
    assert len(listed(page)) == queries.SEARCH_LIMIT and listed(page)[0] == exact.id
    assert "Refine your search" in page
    narrow = nurse.get("/patients?q=P-2001").get_data(as_text=True)
    assert len(listed(narrow)) == 1 and "Refine your search" not in narrow


def test_an_empty_search_lists_nobody(browser_client, world, session):
    patient(world, "P-1001")
    session.flush()
    page = browser_client("nurse").get("/patients?q=%20").get_data(as_text=True)
    assert listed(page) == [] and "Only the patients of your clinic are found." in page


def test_a_vials_label_or_a_boxs_code_scanned_into_the_search_is_said_to_be_one(browser_client, world, session):
    """QA: a vial's label scanned here said "No patient ... matches VL...", where the cart says what it is."""
    patient(world, "P-1001")
    vial = world.container("botox")
    session.flush()
    client = browser_client("nurse")
    page = html.unescape(client.get(f"/patients?q={vial.label_code}").get_data(as_text=True))
    assert f"{vial.label_code} is a vial's Vialog label, not a patient's: scan the patient's card" in page
    assert "No patient of" not in page
    box = html.unescape(client.get("/patients?q=%2801%2903612340000014%2817%29280131%2810%29ABC").get_data(as_text=True))
    assert "That is a box's barcode, not a patient's" in box
    assert "No patient of your clinic matches “Zed”" in html.unescape(client.get("/patients?q=Zed").get_data(as_text=True))


# --- the record -------------------------------------------------------------------------------------------


def test_the_record_shows_the_history_and_every_treatment_open_and_closed(browser_client, world, session):
    amelia = patient(world, "P-1001", name="Amelia Hart")
    first = treated(world, amelia, NOW)  # closed
    syringe = world.container("filler", lot="VB1", expiry=dt.date(2099, 12, 31))
    today = start_treatment(world, amelia, at=utcnow())
    wrong = draw(world, today, syringe, "0.1", "mL", area="lip", at=utcnow()).draw
    reverse(world, wrong, at=utcnow())
    draw(world, today, syringe, "0.2", "mL", area="lip", at=utcnow())
    adverse_events.record(session, actor=world.users["nurse"], scope=EVERYWHERE, treatment_id=first.id,
                          kind="ptosis", onset_date=NOW.date() + dt.timedelta(days=3), severity="mild",
                          outcome="recovering", description="Left brow", now=utcnow())
    session.flush()
    page = browser_client("nurse").get(f"/patients/{amelia.id}").get_data(as_text=True)

    assert "Amelia Hart" in page and "P-1001" in page and "Clinic LON" in page
    assert "onabotulinumtoxinA</strong>: last 15 Jun 2026" in page  # the history service's own reading
    assert "Juvederm Volbella XC 0.55 mL (G′ low): 0.2 mL, Lips" in page
    # Both treatments, newest first, each at the London wall clock (09:30 UTC is 10:30 in June).
    assert page.index(f'id="treatment-{today.id}"') < page.index(f'id="treatment-{first.id}"')
    assert "15 Jun 2026 10:30 · Room 1 · nurse" in page
    assert "C3709C3" in page and "VB1" in page and "20 U" in page and "0.2 mL" in page
    assert "corrected: not given" in page  # the reversed 0.1 mL, struck through
    assert "Ptosis</a> · Mild" in page and "Recovering" in page
    assert f'href="/cart/treatments/{today.id}">Continue in the cart' in page
    assert "/trace?q=" not in page  # a nurse may not open the trace: no link she could not follow


def test_lot_numbers_link_to_the_trace_for_a_role_that_may_open_it(browser_client, world, session):
    amelia = patient(world, "P-1001")
    treated(world, amelia, NOW)
    session.flush()
    page = browser_client("safety").get(f"/patients/{amelia.id}").get_data(as_text=True)
    assert 'href="/trace?q=C3709C3">C3709C3</a>' in page


def test_a_new_york_treatment_reads_in_new_york_time(browser_client, world, session):
    stone = patient(world, "P-NY", clinic=world.other_clinic)
    treated(world, stone, NOW, user="manager")
    session.flush()
    page = browser_client("manager").get(f"/patients/{stone.id}").get_data(as_text=True)
    assert "15 Jun 2026 05:30" in page and "Clinic NYC" in page


def test_the_record_reads_the_same_few_statements_however_many_treatments(world, session):
    amelia = patient(world, "P-1001")
    scope = Scope.for_user(world.users["nurse"])

    def statements() -> int:
        session.flush()
        session.expire_all()
        with recorded(session) as sent:
            record = queries.patient_record(session, scope=scope, patient_id=amelia.id)
            for treatment in record.treatments:  # what the page reads of each
                for d in treatment.draws:
                    (d.container.product.name, d.container.lot.number, d.injector.label, treatment.location.name,
                     treatment.injector.label)
        return len(sent)

    treated(world, amelia, NOW - dt.timedelta(days=100))
    one = statements()
    treated(world, amelia, NOW - dt.timedelta(days=50))
    treated(world, amelia, NOW)
    assert statements() == one


def test_the_cart_links_the_patients_name_to_her_record_and_the_navigation_lists_patients(browser_client, world,
                                                                                          session):
    treatment = start_treatment(world, "P-LINK", at=utcnow())
    session.flush()
    page = browser_client("nurse").get(f"/cart/treatments/{treatment.id}").get_data(as_text=True)
    assert f'<a href="/patients/{treatment.patient_id}">Patient P-LINK</a>' in page
    assert '<a href="/patients">Patients</a>' in page


# --- contact details --------------------------------------------------------------------------------------


def test_contact_details_are_saved_and_audited(browser_client, world, session):
    amelia = patient(world, "P-1001")
    session.flush()
    nurse = browser_client("nurse")
    url = f"/patients/{amelia.id}"
    saved = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), "phone": " 07700 900123 ",
                                               "email": "amelia@example.org", "address": "1 High St\r\nLondon"})
    assert saved.status_code == 302 and saved.headers["Location"] == url
    page = nurse.get(url).get_data(as_text=True)
    assert "Contact details saved." in page and 'value="07700 900123"' in page
    session.expire_all()
    stored = session.get(Patient, amelia.id)
    assert (stored.phone, stored.email) == ("07700 900123", "amelia@example.org")  # trimmed by the service
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.contact_updated"))
    assert audit.object_id == str(amelia.id) and audit.actor_id == world.users["nurse"].id
    assert audit.details == {"fields": ["address", "email", "phone"]}


def test_a_refused_contact_keeps_what_was_typed_says_why_beside_the_field_and_saves_nothing(browser_client, world,
                                                                                            session):
    amelia = patient(world, "P-1001")
    session.flush()
    nurse = browser_client("nurse")
    url = f"/patients/{amelia.id}"
    refused = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), "phone": "07700 900123",
                                                 "email": "amelia at example.org", "address": ""})
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert ('<p class="field-error" id="email-problem" role="alert" data-code="validation_error">Email: type an '
            "email address the clinic can write to, such as jane@example.com. An email address must have an @-sign."
            "</p>") in page
    assert 'value="amelia at example.org"' in page and 'value="07700 900123"' in page
    too_long = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), "phone": "1" * 41})
    assert too_long.status_code == 422 and 'id="phone-problem"' in too_long.get_data(as_text=True)
    session.expire_all()
    assert session.get(Patient, amelia.id).phone is None  # the phone typed with the bad email was not kept
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.contact_updated")) is None


@pytest.mark.parametrize(("field", "typed", "words"), [
    ("email", "jane@@example", "Email: type an email address the clinic can write to, such as jane@example.com. "
                               "The part after the @-sign contains invalid characters: '@'."),
    ("phone", "call me maybe", "Phone: type a phone number the clinic can dial, such as +44 20 7946 0000 "
                               "(an extension as ext 12)."),
])
def test_a_contact_no_one_can_use_is_refused_beside_its_field_in_the_apis_words(
        api, browser_client, world, session, field, typed, words):  # noqa: F811 (the fixture imported above)
    amelia = patient(world, "P-1001")
    session.flush()
    nurse = browser_client("nurse")
    url = f"/patients/{amelia.id}"
    form = {"phone": "07700 900123", "email": "amelia@example.org", "address": "1 High St"} | {field: typed}
    refused = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), **form})
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    said = re.search(rf'<p class="field-error" id="{field}-problem" role="alert" data-code="validation_error">'
                     r"(.*?)</p>", page)
    assert said is not None and said.group(1) == words
    assert "field-error" not in page.replace(said.group(0), "")  # beside its field only, not at the top too
    assert f'value="{typed}"' in page  # what was typed is kept
    assert "Contact details saved." not in page
    answer = api("nurse").patch(url, {field: typed})  # the API refuses it in the same words
    assert (answer.status_code, answer.get_json()["error"]["message"]) == (422, words)
    assert answer.get_json()["error"]["details"]["field"] == field
    session.expire_all()
    assert (session.get(Patient, amelia.id).phone, session.get(Patient, amelia.id).email) == (None, None)


def test_a_phone_stored_before_the_rule_does_not_stop_the_address_being_saved(browser_client, world, session):
    amelia = patient(world, "P-1001")
    amelia.phone = "call me maybe"  # on file before the rule: kept until someone changes it
    session.flush()
    nurse = browser_client("nurse")
    url = f"/patients/{amelia.id}"
    saved = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), "phone": "call me maybe",
                                               "email": "", "address": "1 High St"})
    assert saved.status_code == 302
    session.expire_all()
    assert (session.get(Patient, amelia.id).phone, session.get(Patient, amelia.id).address) == ("call me maybe",
                                                                                                "1 High St")
    changed = nurse.post(f"{url}/contact", data={"csrf_token": csrf_token(nurse, url), "phone": "call me later"})
    assert changed.status_code == 422 and 'id="phone-problem"' in changed.get_data(as_text=True)


# --- who may see which patient ----------------------------------------------------------------------------


def test_another_clinics_patient_is_not_found(browser_client, world, session):
    london = patient(world, "P-LON")
    new_york = patient(world, "P-NY", clinic=world.other_clinic)
    session.flush()
    nurse = browser_client("nurse")
    token = csrf_token(nurse, "/patients")
    assert nurse.get(f"/patients/{new_york.id}").status_code == 404
    assert nurse.post(f"/patients/{new_york.id}/contact", data={"csrf_token": token, "phone": "1"}).status_code == 404
    nyc = browser_client("other_nurse")
    assert nyc.get(f"/patients/{london.id}").status_code == 404
    assert nyc.get(f"/patients/{new_york.id}").status_code == 200
    session.expire_all()
    assert session.get(Patient, new_york.id).phone is None


def test_a_role_without_the_cart_permission_is_refused_as_by_the_api(app, browser_client, world, session,
                                                                      monkeypatch):
    assert app.view_functions["pages.patients"].access == app.view_functions["api.list_patients"].access
    assert app.view_functions["pages.patient_contact"].access == app.view_functions["api.update_patient_contact"].access
    amelia = patient(world, "P-1001")
    session.flush()
    nurse = browser_client("nurse")
    token = csrf_token(nurse, "/patients")
    # Every role carries the cart permission today: one that did not.
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.NURSE, frozenset({Permission.KIT_CHECK}))
    assert nurse.get("/patients").status_code == 403
    assert nurse.get(f"/patients/{amelia.id}").status_code == 403
    assert nurse.post(f"/patients/{amelia.id}/contact", data={"csrf_token": token, "phone": "1"}).status_code == 403
    assert 'href="/patients"' not in nurse.get("/kits").get_data(as_text=True)
