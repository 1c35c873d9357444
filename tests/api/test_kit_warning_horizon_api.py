"""QA: PATCH /api/v1/clinics/<id> with kit_warning_days 365, then 0, left GET /api/v1/kits/readiness the same."""

from __future__ import annotations

import pytest

from tests.factories import NOW
from tests.kit_factories import check, days, stock, stocked_kit


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.api.utcnow", lambda: NOW)


def test_the_clinics_kit_warning_horizon_changes_the_readiness_board(api, world):
    kit = stocked_kit(world)  # the template warns 30 days ahead
    stock(world, kit, "syringe", lot="SY-SHORT", expiry=days(200))
    check(world, kit)
    admin, nurse = api("admin"), api("nurse")
    path = f"/kits/readiness?clinic_id={world.clinic.id}"

    assert admin.patch(f"/clinics/{world.clinic.id}", {"kit_warning_days": 365}).status_code == 200
    (far,) = nurse.get(path).get_json()
    assert far["status"] == "expiring_soon"
    assert far["reasons"][0] == (
        "Syringe 1 mL Luer-lock lot SY-SHORT expires in 200 days (1 Jan 2027; this clinic warns 365 days ahead)")
    assert all(reason.endswith("this clinic warns 365 days ahead)") for reason in far["reasons"])  # 2027 lots too
    assert far["details"][0]["data"] | {"warning_days": 365, "warned_by": "clinic"} == far["details"][0]["data"]

    assert admin.patch(f"/clinics/{world.clinic.id}", {"kit_warning_days": 0}).status_code == 200
    (near,) = nurse.get(path).get_json()
    assert (near["status"], near["reasons"]) == ("ready", [])
    assert near["kit_id"] == far["kit_id"] == kit.id
