"""Values in error details and reasons read as the rest of the API writes them (API QA): moments in UTC with ``Z``
as every response model's, quantities without trailing zeros, a container's id an integer whether it came from
the path or the body, and an id too long for any container said to be so, never shown cut to another number.
And the watch list takes ``product_id`` and ``gtin`` together when they name the same product."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import WatchedLot
from inventory.errors import ValidationError
from inventory.models import utcnow
from tests.api.conftest import error_code
from tests.factories import NOW
from tests.kit_factories import check, stocked_kit


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    assert error_code(response) == code
    return response.get_json()["error"]


# --- moments and quantities ------------------------------------------------------------------------------------


def test_an_excursion_already_recorded_says_its_times_and_temperatures_as_the_api_writes_them(api, world, session):
    """QA: details said "min_c": "9.5000" and "+00:00" where the excursion itself reads "9.5" and "Z"."""
    world.container("botox", now=utcnow() - dt.timedelta(days=2))
    start = (utcnow() - dt.timedelta(hours=3)).replace(microsecond=0)
    body = {"started_at": start.isoformat(), "ended_at": (start + dt.timedelta(hours=1)).isoformat(),
            "min_c": "9.50", "max_c": "11.2"}
    manager = api("manager")
    path = f"/locations/{world.location().id}/excursions"
    first = manager.post(path, body)
    assert first.status_code == 201, first.get_json()
    recorded = first.get_json()
    details = error_of(manager.post(path, body), 409, "excursion_already_recorded")["details"]
    assert (details["min_c"], details["max_c"]) == ("9.5", "11.2") == (recorded["min_c"], recorded["max_c"])
    assert (details["started_at"], details["ended_at"]) == (recorded["started_at"], recorded["ended_at"])
    assert details["started_at"] == start.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def test_a_kit_reasons_moment_reads_as_the_checks_own(api, world, monkeypatch):
    """QA: a broken seal's data.checked_at said "+00:00" where the check's checked_at says "Z"."""
    monkeypatch.setattr("inventory.kits.api.utcnow", lambda: NOW)
    kit = stocked_kit(world)
    check(world, kit, seal_intact=False)
    nurse = api("nurse")
    (board,) = nurse.get("/kits/readiness").get_json()
    (seal,) = [reason for reason in board["details"] if reason["code"] == "seal_broken"]
    assert seal["data"]["checked_at"] == "2026-06-15T09:30:00Z" == board["last_check_at"]


# --- container ids -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["path", "body"])
def test_unknown_container_names_the_id_as_an_integer_wherever_it_was_given(api, world, where):
    """QA: details.id was "2147483648" (a string) from a path and an integer from a body."""
    nurse = api("nurse")
    if where == "path":
        response = nurse.get("/containers/2147483648")
    else:
        patient = nurse.post("/patients", {"external_ref": "ID-1", "name": "Ada"}).get_json()
        treatment = nurse.post("/treatments", {"patient_id": patient["id"],
                                               "location_id": world.location("Room 1").id}).get_json()
        response = nurse.post(f"/treatments/{treatment['id']}/draws",
                              {"container": "2147483648", "quantity": "4", "unit": "U", "area": "glabella"})
    error = error_of(response, 404, "unknown_container")
    assert error["details"] == {"id": 2147483648}
    assert error["message"] == "No container with id 2147483648."


def test_an_id_longer_than_any_containers_is_said_to_be_too_long_not_cut(api, world):
    """QA: a 23-digit id answered "No container with id 99999999999999999999.": another number, cut to 20."""
    typed = "9" * 23
    error = error_of(api("nurse").get(f"/containers/{typed}"), 404, "unknown_container")
    assert error["message"] == ("No container has an id of 23 digits: a container's id has at most 10. Check the "
                                "number, or scan the vial's Vialog label.")
    assert error["details"] == {"id_digits": 23}
    assert "9" * 11 not in error["message"]


# --- the watch list: product_id and gtin ------------------------------------------------------------------------


def watch(world, **product):
    return counterfeit.watch(world.session, actor=world.users["safety"], lot_number="FAKE77", source="FDA alert",
                             now=NOW, **product)


def test_a_watch_naming_a_product_by_both_id_and_gtin_is_taken_when_they_agree(world, session):
    watched = watch(world, product_id=world.botox.id, gtin=world.botox.gtins[0].gtin)
    assert watched.entry.product_id == world.botox.id


def test_a_watch_whose_id_and_gtin_name_two_products_is_refused_never_one_taken(world, session):
    """Before: the GTIN was dropped without a word, and the lot watched on the product the id named."""
    dysport_gtin = world.products["dysport"].gtins[0].gtin
    with pytest.raises(ValidationError) as refused:
        watch(world, product_id=world.botox.id, gtin=dysport_gtin)
    assert refused.value.details["field"] == "gtin"
    assert refused.value.message.startswith(f"GTIN {dysport_gtin} is Dysport 300 U (product "
                                            f"{world.products['dysport'].id}), not product {world.botox.id} (")
    assert "give product_id or gtin, or both of the same product" in refused.value.message
    assert session.scalars(select(WatchedLot)).all() == []
    result = counterfeit.import_csv(session, actor=world.users["safety"], now=NOW, source="FDA alert",
                                    text=f"product_id,gtin,lot_number\n{world.botox.id},{dysport_gtin},FAKE78\n"
                                         f"{world.botox.id},{world.botox.gtins[0].gtin},FAKE79\n")
    assert [w.entry.lot_number for w in result.added] == ["FAKE79"]
    assert [(s.row, s.code) for s in result.skipped] == [(2, "validation_error")]
