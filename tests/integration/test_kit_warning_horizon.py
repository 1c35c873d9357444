"""QA: the clinic's kit warning horizon had no effect. A kit warns at the longer of its template's warning days and
its clinic's kit warning horizon, and says so when only the clinic's made it warn."""

from __future__ import annotations

import pytest

from inventory.kits import service as kits
from inventory.kits.models import KitStatus
from inventory.services.clock import format_date
from tests.factories import EVERYWHERE, NOW
from tests.kit_factories import check, days, new_kit, state, stock, stocked_kit, texts


def _horizon(world, clinic_days: int, clinic=None) -> None:
    (clinic or world.clinic).kit_warning_days = clinic_days
    world.session.flush()


def _kit_with_syringes_expiring_in(world, expires_in: int, *, warning_days: int = 30, clinic=None, name=None):
    options = {"name": name} if name else {}
    kit = stocked_kit(world, clinic=clinic, warning_days=warning_days, **options)
    stock(world, kit, "syringe", lot="SY-SHORT", expiry=days(expires_in))
    check(world, kit)
    return kit


@pytest.mark.parametrize(("expires_in", "expected"), [(60, KitStatus.EXPIRING_SOON), (61, KitStatus.READY)])
def test_a_clinic_asking_more_notice_than_the_template_gets_it(world, expires_in, expected):
    _horizon(world, 60)
    kit = _kit_with_syringes_expiring_in(world, expires_in, warning_days=30)
    found = state(world, kit)
    assert found.status is expected
    if expected is KitStatus.EXPIRING_SOON:
        assert texts(found) == [f"Syringe 1 mL Luer-lock lot SY-SHORT expires in 60 days "
                                f"({format_date(days(60))}; this clinic warns 60 days ahead)"]
        assert found.reasons[0].data | {"warning_days": 60, "warned_by": "clinic"} == found.reasons[0].data


def test_a_template_asking_more_notice_than_the_clinic_keeps_it(world):
    _horizon(world, 0)
    kit = _kit_with_syringes_expiring_in(world, 45, warning_days=60)
    found = state(world, kit)
    assert found.status is KitStatus.EXPIRING_SOON
    assert texts(found) == [f"Syringe 1 mL Luer-lock lot SY-SHORT expires in 45 days ({format_date(days(45))})"]
    assert found.reasons[0].data | {"warning_days": 60, "warned_by": "template"} == found.reasons[0].data


def test_the_clinic_is_named_only_when_its_horizon_made_the_difference(world):
    """Within the template's own warning days the warning is the template's, whatever the clinic asks."""
    _horizon(world, 60)
    kit = _kit_with_syringes_expiring_in(world, 20, warning_days=30)
    (reason,) = state(world, kit).reasons
    assert reason.text == f"Syringe 1 mL Luer-lock lot SY-SHORT expires in 20 days ({format_date(days(20))})"
    assert (reason.data["warning_days"], reason.data["warned_by"]) == (60, "template")


@pytest.mark.parametrize(("clinic_days", "expected"), [(365, KitStatus.EXPIRING_SOON), (0, KitStatus.READY)])
def test_the_clinic_setting_changes_the_board(world, clinic_days, expected):
    """The QA steps: kit_warning_days set to 365, then 0, and the board answered the same each time."""
    kit = _kit_with_syringes_expiring_in(world, 200, warning_days=30)
    _horizon(world, clinic_days)
    assert state(world, kit).status is expected


def test_the_clinic_horizon_runs_from_the_day_stock_stops_counting(world):
    _horizon(world, 60)
    kit = new_kit(world, hyaluronidase_days=30, warning_days=30)
    stock(world, kit, "hylenex", count=2, expiry=days(85))
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    found = state(world, kit)
    assert found.status is KitStatus.EXPIRING_SOON
    assert texts(found) == [
        f"Hylenex recombinant 150 USP U/mL lot 2205123 expires in 85 days ({format_date(days(85))}); it counts "
        f"for this kit until {format_date(days(55))} (Hyaluronidase needs 30 days of shelf life; this clinic warns "
        "60 days ahead)"
    ]


def test_kits_stocked_alike_at_clinics_with_different_horizons_each_get_their_own(world):
    _horizon(world, 90, world.other_clinic)
    london = _kit_with_syringes_expiring_in(world, 75)
    new_york = _kit_with_syringes_expiring_in(world, 75, clinic=world.other_clinic, name="NYC kit")
    board = {found.kit_id: found for found in kits.readiness(world.session, scope=EVERYWHERE, now=NOW)}
    assert board[london.id].status is KitStatus.READY
    assert board[new_york.id].status is KitStatus.EXPIRING_SOON
    assert "this clinic warns 90 days ahead" in board[new_york.id].reasons[0].text
