"""``vialog backup PATH`` and ``vialog restore PATH`` use the PATH given, on PostgreSQL too, where they print
PostgreSQL's own commands for it (quoted for the shell, without the password); a missing file is said after
that explanation, not instead of it."""

from __future__ import annotations

import shlex
import shutil
import subprocess

from sqlalchemy import make_url

from inventory.services import backup as backups
from tests.conftest import db_backend_name


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


def test_the_printed_commands_name_the_file_given_quoted_and_never_the_password():
    url = make_url("postgresql+psycopg://vialog:s3cret-pw@db.example:5433/vialog?sslmode=require")
    dump, createdb, pg_restore = backups.postgres_commands(url, "/srv/back ups/it's.dump")
    assert dump == ("pg_dump --format=custom --file='/srv/back ups/it'\"'\"'s.dump' "
                    "'postgresql://vialog@db.example:5433/vialog?sslmode=require'")
    assert createdb == "createdb -h db.example -p 5433 -U vialog vialog_restored"
    assert pg_restore == ("pg_restore --no-owner --exit-on-error "
                          "--dbname='postgresql://vialog@db.example:5433/vialog_restored?sslmode=require' "
                          "'/srv/back ups/it'\"'\"'s.dump'")
    assert shlex.split(dump)[2] == "--file=/srv/back ups/it's.dump"
    assert not any("s3cret-pw" in line for line in (dump, createdb, pg_restore))


def test_backup_and_restore_use_the_path_given_and_say_a_missing_file_last(app, tmp_path):
    if db_backend_name(app) == "postgresql":
        _postgresql_prints_the_commands_for_the_path_given(app, tmp_path)
    else:
        _sqlite_says_a_missing_backup_before_asking_for_yes(app, tmp_path)


def _postgresql_prints_the_commands_for_the_path_given(app, tmp_path) -> None:
    url = make_url(app.config["DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=True)
    dump = tmp_path / "back ups" / "pg.dump"
    runner = app.test_cli_runner()

    made = runner.invoke(args=["backup", str(dump)])
    assert made.exit_code == 1
    assert _lines(made.output) == [
        "Error: Vialog does not back up PostgreSQL itself; use PostgreSQL's tools (docs/operations.md):",
        f"pg_dump --format=custom --file='{dump}' {url}",
    ]
    if shutil.which("pg_dump"):  # the line runs as printed, and writes where it was asked to
        dump.parent.mkdir()
        subprocess.run(shlex.split(_lines(made.output)[1]), check=True, capture_output=True, timeout=120)  # noqa: S603
        assert dump.stat().st_size > 0

    restored = runner.invoke(args=["restore", str(dump), "--yes"])
    assert restored.exit_code == 1
    fresh = url.rsplit("/", 1)[0] + "/vialog_restored"
    expected = [
        "Error: Vialog does not restore PostgreSQL itself; use PostgreSQL's tools (docs/operations.md):",
        f"createdb {backups.server_options(make_url(url))} vialog_restored",
        f"pg_restore --no-owner --exit-on-error --dbname={fresh} '{dump}'",
    ]
    assert _lines(restored.output)[:3] == expected and not any("pg_dump" in line for line in _lines(restored.output))

    missing = tmp_path / "never-made.dump"
    refused = runner.invoke(args=["restore", str(missing)])
    assert refused.exit_code == 1
    assert _lines(refused.output)[0] == expected[0]  # the explanation first, not click's "does not exist"
    assert f"--dbname={fresh} {missing}" in refused.output
    assert _lines(refused.output)[-1] == f"(There is no file at {missing}: name the one pg_dump wrote.)"


def _sqlite_says_a_missing_backup_before_asking_for_yes(app, tmp_path) -> None:
    missing = tmp_path / "never-made.db"
    for args in (["restore", str(missing)], ["restore", str(missing), "--yes"]):
        refused = app.test_cli_runner().invoke(args=args)
        assert (refused.exit_code, refused.output) == (1, f"Error: There is no backup at {missing}.\n")
