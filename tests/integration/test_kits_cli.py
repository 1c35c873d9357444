"""``vialog kits``: the board for a daily cron, exit 1 when a kit is not ready."""

from __future__ import annotations

import datetime as dt

from tests.factories import NOW
from tests.kit_factories import check, new_kit, stock, stocked_kit

AT = ["--at", NOW.isoformat()]


def test_the_board_exits_0_when_every_kit_is_ready_and_1_when_one_is_not(app, world, session):
    london = stocked_kit(world)
    check(world, london)
    session.commit()  # releases the test's savepoint so the command's session sees the rows
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["kits", *AT])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines() == [
        "READY          Emergency kit (room 1) (LON)",
        "1 kit(s): 1 ready, 0 expiring soon, 0 not ready.",
    ]

    new_york = new_kit(world, world.other_clinic, name="NYC kit")
    stock(world, new_york, "hylenex")
    session.commit()
    bad = runner.invoke(args=["kits", *AT])
    assert bad.exit_code == 1
    assert ("NOT READY      NYC kit (NYC): Hyaluronidase: 150 USP U of 300 USP U (Hylenex recombinant 150 USP U/mL); "
            "Syringes 1 mL: 0 each of 2 each; Never checked; checked every 7 days") in bad.output.splitlines()
    assert runner.invoke(args=["kits", "--clinic", "LON", *AT]).exit_code == 0
    assert runner.invoke(args=["kits", "--clinic", "NYC", *AT]).exit_code == 1


def test_a_kit_turns_not_ready_when_its_check_is_overdue_and_bad_options_are_usage_errors(app, world, session):
    kit = stocked_kit(world)
    check(world, kit)
    session.commit()
    runner = app.test_cli_runner()
    later = runner.invoke(args=["kits", "--at", (NOW + dt.timedelta(days=8)).isoformat()])
    assert later.exit_code == 1 and "Last check 8 days ago; checked every 7 days" in later.output
    assert runner.invoke(args=["kits", "--clinic", "XXX"]).exit_code == 2
    assert runner.invoke(args=["kits", "--at", "next tuesday"]).exit_code == 2
