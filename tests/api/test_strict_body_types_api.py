"""A JSON body's ids, counts, flags, dates and times are taken in JSON's own types only (API.md: ids are integers,
dates YYYY-MM-DD, times ISO 8601 with an offset). QA found them converted: a treatment of ``"patient_id": true``
was patient 1's, a draw of ``"container": true`` came out of container 1, ``"active": "no"`` deactivated a user."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import func, select

from inventory.blueprints.api.core import OPERATIONS
from inventory.kits.models import KitCheck
from inventory.models import Draw, Receipt, Treatment, utcnow
from tests.api.conftest import error_code
from tests.factories import patient
from tests.kit_factories import stocked_kit

FAR = dt.date(2099, 12, 31)
WHOLE = "a whole number, such as 3"

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def refused(response, field: str) -> str:
    """The problem said of ``field`` by a 422 validation_error naming it first."""
    body = response.get_json()
    assert response.status_code == 422 and error_code(response) == "validation_error", body
    details = body["error"]["details"]
    assert details["field"] == field, body
    problem = next(f["problem"] for f in details["fields"] if f["field"] == field)
    assert body["error"]["message"].startswith(f"{field}: {problem}")
    return problem


def count(session, column) -> int:
    return session.scalar(select(func.count(column)))


@pytest.fixture
def nurse(api):
    return api("nurse")


def open_treatment(nurse, world, ref: str = "STRICT-1") -> dict:
    ann = patient(world, ref)
    response = nurse.post("/treatments", {"patient_id": ann.id, "location_id": world.location("Room 1").id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def mixed_botox(nurse, world):
    vial = world.container("botox", expiry=FAR)
    assert nurse.post(f"/containers/{vial.label_code}/reconstitute", {"diluent_ml": "2.5"}).status_code == 200
    return vial


# --- ids ---------------------------------------------------------------------------------------------


def test_the_qa_treatment_of_true_ids_is_refused_naming_both_and_nothing_is_started(nurse, world, session):
    before = count(session, Treatment.id)
    response = nurse.post("/treatments", {"patient_id": True, "location_id": True})
    assert refused(response, "patient_id") == f"{WHOLE}, not true or false"
    assert [f["field"] for f in response.get_json()["error"]["details"]["fields"]] == ["patient_id", "location_id"]
    assert count(session, Treatment.id) == before


@pytest.mark.parametrize("sent, problem", [
    (lambda pid: str(pid), f"{WHOLE}, not text in quotes"),
    (lambda pid: f" {pid} ", f"{WHOLE}, not text in quotes"),
    (lambda pid: float(pid), f"{WHOLE}, without a decimal point"),
    (lambda pid: [pid], f"{WHOLE}, not a list"),
], ids=["text", "spaced text", "float", "list"])
def test_an_id_sent_as_text_a_float_or_a_list_is_refused_even_when_it_names_a_real_patient(
        nurse, world, session, sent, problem):
    ann = patient(world, "STRICT-ID")
    before = count(session, Treatment.id)
    response = nurse.post("/treatments", {"patient_id": sent(ann.id), "location_id": world.location("Room 1").id})
    assert refused(response, "patient_id") == problem
    assert count(session, Treatment.id) == before


def test_the_good_treatment_still_starts(nurse, world):
    assert open_treatment(nurse, world)["patient"]["external_ref"] == "STRICT-1"


def test_the_qa_draw_of_container_true_is_refused_and_nothing_is_drawn(nurse, world, session):
    mixed_botox(nurse, world)
    treatment = open_treatment(nurse, world)
    before = count(session, Draw.id)
    for sent in (True, False, 1.0):
        response = nurse.post(f"/treatments/{treatment['id']}/draws",
                              {"container": sent, "quantity": "1", "unit": "U", "area": "glabella"})
        problem = refused(response, "container")
        assert problem.startswith("a container's id (a whole number, such as 3) or its label code, ")
        assert len(response.get_json()["error"]["details"]["fields"]) == 1  # one problem, not one per member
    assert count(session, Draw.id) == before


def test_a_draw_still_names_its_container_by_id_by_label_or_by_the_id_as_scanned_digits(nurse, world):
    vial = mixed_botox(nurse, world)
    treatment = open_treatment(nurse, world)
    # A numeric string is the id, as before (scanning.container_id_of): a scanner that sends digits means it.
    for ref in (vial.id, vial.label_code, str(vial.id)):
        response = nurse.post(f"/treatments/{treatment['id']}/draws",
                              {"container": ref, "quantity": "1", "unit": "U", "area": "glabella"})
        assert response.status_code == 201, (ref, response.get_json())
        assert response.get_json()["container"]["id"] == vial.id


def test_a_list_of_ids_takes_whole_numbers_only(nurse, world):
    response = nurse.post("/containers/beyond-use/waste", {"container_ids": [True]})
    assert refused(response, "container_ids.0") == f"{WHOLE}, not true or false"


# --- counts ------------------------------------------------------------------------------------------


def receipt(world, **changes) -> dict:
    return {"gtin": world.botox.gtins[0].gtin, "lot": "STRICT1", "expiry": "2099-12-31", "containers": 2,
            "location_id": world.location().id} | changes


@pytest.mark.parametrize("containers, problem", [
    (True, f"{WHOLE}, not true or false"), ("2", f"{WHOLE}, not text in quotes"),
    (2.0, f"{WHOLE}, without a decimal point"),
])
def test_a_receipts_count_of_containers_is_a_whole_number_only(api, world, session, containers, problem):
    before = count(session, Receipt.id)
    assert refused(api("manager").post("/receipts", receipt(world, containers=containers)), "containers") == problem
    assert count(session, Receipt.id) == before


def test_the_good_receipt_still_receives(api, world):
    response = api("manager").post("/receipts", receipt(world))
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["containers"]) == 2


# --- dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expiry, problem", [
    ("2028-01-31T00:00:00Z", "a date, such as 2026-03-31, without a time"),
    ("31/01/2028", "a date, such as 2026-03-31"),
    ("2028-1-31", "a date, such as 2026-03-31"),
    (" 2028-01-31", "a date, such as 2026-03-31"),
    ("2028-02-30", "2028-02-30 is not a day of the calendar: a date, such as 2026-03-31"),
    (20280131, 'a date in quotes, such as "2026-03-31"'),
    (True, 'a date in quotes, such as "2026-03-31"'),
])
def test_a_receipts_expiry_is_a_date_written_year_month_day_only(api, world, session, expiry, problem):
    before = count(session, Receipt.id)
    assert refused(api("manager").post("/receipts", receipt(world, expiry=expiry)), "expiry") == problem
    assert count(session, Receipt.id) == before


def test_a_date_of_birth_is_a_date_only(nurse, world):
    response = nurse.post("/patients", {"external_ref": "STRICT-DOB", "name": "Ada", "date_of_birth": 19851210})
    assert refused(response, "date_of_birth") == 'a date in quotes, such as "2026-03-31"'
    good = nurse.post("/patients", {"external_ref": "STRICT-DOB", "name": "Ada", "date_of_birth": "1985-12-10"})
    assert good.status_code == 201 and good.get_json()["date_of_birth"] == "1985-12-10"


# --- times ---------------------------------------------------------------------------------------------


def excursion(**changes) -> dict:
    now = utcnow()
    return {"started_at": (now - dt.timedelta(hours=3)).isoformat(),
            "ended_at": (now - dt.timedelta(hours=1)).isoformat(), "min_c": "9.5", "max_c": "14"} | changes


@pytest.mark.parametrize("started_at, problem", [
    (1733390000, 'a date and time in quotes, such as "2026-03-31T14:30:00Z"'),
    ("1733390000", "a date and time, such as 2026-03-31T14:30:00Z"),
    ("2026-03-31", "a date and time, such as 2026-03-31T14:30:00Z"),
    ("2026-03-31T14:30:00", "a date and time with its offset (Z, +01:00, -05:00), such as 2026-03-31T14:30:00Z"),
    ("2026-03-31T25:30:00Z", "2026-03-31T25:30:00Z is not a moment of the calendar: a date and time, such as "
                             "2026-03-31T14:30:00Z"),
])
def test_an_excursions_times_are_iso_8601_strings_with_their_offset(api, world, started_at, problem):
    response = api("manager").post(f"/locations/{world.location().id}/excursions", excursion(started_at=started_at))
    assert refused(response, "started_at") == problem


def test_an_excursion_with_z_or_an_offset_is_still_recorded(api, world):
    now = utcnow().replace(microsecond=0)
    started = (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ended = (now - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()
    response = api("manager").post(f"/locations/{world.location().id}/excursions",
                                   excursion(started_at=started, ended_at=ended))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert dt.datetime.fromisoformat(body["started_at"]) == now - dt.timedelta(hours=3)
    assert dt.datetime.fromisoformat(body["ended_at"]) == now - dt.timedelta(hours=1)


# --- flags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent, problem", [
    ("yes", "true or false, not text in quotes"), ("on", "true or false, not text in quotes"),
    ("true", "true or false, not text in quotes"), ("no", "true or false, not text in quotes"),
    (1, "true or false, not a number"), (0, "true or false, not a number"),
])
def test_a_kit_checks_seal_is_true_or_false_only(nurse, world, session, sent, problem):
    kit = stocked_kit(world)
    assert refused(nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": sent}), "seal_intact") == problem
    assert count(session, KitCheck.id) == 0


def test_the_good_kit_check_is_still_recorded(nurse, world):
    kit = stocked_kit(world)
    response = nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": True})
    assert response.status_code == 201 and response.get_json()["seal_intact"] is True


def test_the_qa_user_deactivated_by_active_no_stays_active(api, world, session):
    nurse = world.users["nurse"]
    for sent in ("no", 0, "false"):
        assert refused(api("admin").patch(f"/users/{nurse.id}", {"active": sent}), "active").startswith(
            "true or false, not ")
    session.refresh(nurse)
    assert nurse.is_active
    assert api("nurse").get("/clinics").status_code == 200  # the token still works


def test_the_qa_clinic_setting_of_true_days_is_refused_and_kept(api, world, session):
    before = world.clinic.filler_hold_days
    response = api("admin").patch(f"/clinics/{world.clinic.id}", {"filler_hold_days": True})
    assert refused(response, "filler_hold_days") == f"{WHOLE}, not true or false"
    session.refresh(world.clinic)
    assert world.clinic.filler_hold_days == before
    assert api("admin").patch(f"/clinics/{world.clinic.id}", {"kit_warning_days": 45}).status_code == 200


# --- what stays as it was ------------------------------------------------------------------------------


def test_query_strings_are_text_and_still_read_as_numbers_and_dates(api, world):
    nurse = api("nurse")
    assert nurse.get("/stock/expiring?days=45").status_code == 200
    assert nurse.get("/follow-ups?due_before=2099-01-01").status_code == 200
    assert refused(nurse.get("/stock/expiring?days=abc"), "days") == WHOLE


def test_an_idempotent_retry_of_a_strict_body_replays_its_answer(nurse, world):
    ann = patient(world, "STRICT-KEY")
    body = {"patient_id": ann.id, "location_id": world.location("Room 1").id}
    headers = {"Idempotency-Key": "strict-1"}
    first = nurse.post("/treatments", body, headers=headers)
    again = nurse.post("/treatments", body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()


# --- every body's dates and times ------------------------------------------------------------------------


def _leaves(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is not None and origin is not typing.Literal:
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _body_fields() -> list[tuple[str, type[BaseModel], str]]:
    seen: set[type[BaseModel]] = set()
    found: list[tuple[str, type[BaseModel], str]] = []

    def walk(model: type[BaseModel], where: str) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            for leaf in _leaves(info.annotation):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    walk(leaf, where)
                elif leaf in (dt.date, dt.datetime):
                    found.append((where, model, name))

    for op in OPERATIONS:
        if op.body is not None:
            walk(op.body, f"{op.method.upper()} {op.path}")
    return found


def test_every_bodys_date_and_time_reads_its_json_string_strictly():
    """A body is validated strictly, where a plain ``dt.date`` would refuse every string a client can send:
    each date and time of a body is schemas.Day or schemas.Moment, which read the string the contract gives."""
    fields = _body_fields()
    assert len(fields) >= 7  # receipts, patients, follow-ups, adverse events (2), excursions (2)
    for where, model, name in fields:
        info = model.model_fields[name]
        annotation = typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        is_time = dt.datetime in _leaves(info.annotation)
        good = "2027-03-31T14:30:00Z" if is_time else "2027-03-31"
        assert adapter.validate_python(good, strict=True) is not None, (where, name)
        with pytest.raises(ValidationError):
            adapter.validate_python("2027-03-31" if is_time else "2027-03-31T14:30:00Z", strict=True)
        with pytest.raises(ValidationError):
            adapter.validate_python(1733390000, strict=True)


# --- the treatment names each draw's movement (LOW) ------------------------------------------------------


def test_a_treatment_lists_each_draws_movement_the_reversal_takes(nurse, world):
    vial = mixed_botox(nurse, world)
    treatment = open_treatment(nurse, world)
    drawn = nurse.post(f"/treatments/{treatment['id']}/draws",
                       {"container": vial.label_code, "quantity": "4", "unit": "U", "area": "glabella"})
    assert drawn.status_code == 201
    [line] = nurse.get(f"/treatments/{treatment['id']}").get_json()["draws"]
    assert (line["id"], line["movement_id"]) == (drawn.get_json()["id"], drawn.get_json()["movement_id"])
    reversal = nurse.post(f"/movements/{line['movement_id']}/reverse", {"reason": "charted on the wrong patient"})
    assert reversal.status_code == 201, reversal.get_json()
    [after] = nurse.get(f"/treatments/{treatment['id']}").get_json()["draws"]
    assert after["is_reversed"] is True and after["movement_id"] == line["movement_id"]
