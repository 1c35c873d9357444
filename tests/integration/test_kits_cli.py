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
        "As recorded at 2026-06-15 09:30 UTC; kits created since are left out, and kit templates are today's "
        "(they keep no history).",
        "READY          Emergency kit (room 1) (LON)",
        "1 kit: 1 ready, 0 expiring soon, 0 not ready.",
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


def test_a_past_board_reads_the_check_recorded_by_then_not_a_later_one(app, world, session):
    """A later check found the seal broken: the board of the day before says what was known that day."""
    kit = stocked_kit(world)
    check(world, kit)
    check(world, kit, at=NOW + dt.timedelta(days=2), seal_intact=False)
    session.commit()
    runner = app.test_cli_runner()
    before = runner.invoke(args=["kits", "--at", (NOW + dt.timedelta(days=1)).isoformat()])
    assert before.exit_code == 0, before.output
    assert before.output.splitlines()[1:] == [
        "READY          Emergency kit (room 1) (LON)",
        "1 kit: 1 ready, 0 expiring soon, 0 not ready.",
    ]
    after = runner.invoke(args=["kits", "--at", (NOW + dt.timedelta(days=2, hours=1)).isoformat()])
    assert after.exit_code == 1 and "Seal found broken at the last check on 17 Jun 2026" in after.output


def test_a_moment_without_time_zone_is_read_on_each_clinics_own_clock(app, world, session):
    """09:00 on 16 June is 08:00 UTC in London (summer time) and 13:00 UTC in New York: each kit's 08:30 check
    counts there; read as UTC, New York's check would not have happened yet."""
    london = stocked_kit(world)
    new_york = new_kit(world, world.other_clinic, name="NYC kit")
    stock(world, new_york, "hylenex", count=2)
    stock(world, new_york, "syringe", count=2, lot="SY2026")
    check(world, london, at=dt.datetime(2026, 6, 16, 7, 30, tzinfo=dt.UTC))
    check(world, new_york, at=dt.datetime(2026, 6, 16, 12, 30, tzinfo=dt.UTC))
    session.commit()
    runner = app.test_cli_runner()
    local = runner.invoke(args=["kits", "--at", "2026-06-16T09:00"])
    assert local.exit_code == 0, local.output
    assert local.output.splitlines()[0] == ("As recorded at 2026-06-16 09:00 in each clinic's own time; kits created "
                                            "since are left out, and kit templates are today's (they keep no history).")
    utc = runner.invoke(args=["kits", "--at", "2026-06-16T09:00Z"])
    assert utc.exit_code == 1
    assert "NOT READY      NYC kit (NYC): Never checked; checked every 7 days" in utc.output.splitlines()


def test_a_bad_moment_is_one_line_and_exit_2_never_a_traceback(app, world, session):
    stocked_kit(world)
    session.commit()
    runner = app.test_cli_runner()
    for value, said in [
        ("next tuesday", "Error: --at 'next tuesday' is not a date and time: write it in ISO 8601"),
        ("2026-06-15T25:00", "Error: --at '2026-06-15T25:00' is not a date and time"),
        ("2999-01-01T00:00Z", "Error: --at 2999-01-01T00:00:00+00:00 is still to come: a past board goes up to "
                              "now ("),
        ("0001-01-01T00:00+01:00", "Error: --at 0001-01-01T00:00:00 is out of range."),
        ("9999-12-31T23:59", "Error: --at 9999-12-31T23:59:00 in America/New_York is out of range."),
    ]:
        result = runner.invoke(args=["kits", "--at", value])
        assert result.exit_code == 2, (value, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        (line,) = result.output.splitlines()
        assert line.startswith(said), (value, line)
    unknown = runner.invoke(args=["kits", "--clinic", "XXX"])
    assert (unknown.exit_code, unknown.output) == (2, "Error: No clinic with code XXX.\n")
