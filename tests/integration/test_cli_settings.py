"""``vialog`` with settings it cannot work with: one ``Error:`` line that says what to do, exit 1, never a
traceback, never the password of DATABASE_URL."""

from __future__ import annotations

import socket
import uuid

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import make_url

from inventory import ConfigurationError, config, create_app
from inventory.cli import main
from tests.conftest import POSTGRES_ADMIN_URL, REQUIRE_POSTGRES

PASSWORD = "pw-never-printed-7Q"


def _vialog(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and PASSWORD not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    (line,) = result.output.splitlines()
    assert line.startswith("Error: ")
    return line


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_server() -> str:
    """The test PostgreSQL server's address (skipped when it is not running, unless VIALOG_REQUIRE_POSTGRES)."""
    import psycopg

    conninfo = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(conninfo, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable ({error})")
    return POSTGRES_ADMIN_URL


def test_a_postgresql_server_that_is_not_running_is_named_with_its_port_and_no_password(tmp_path):
    port = _free_port()
    result = _vialog("check", DATABASE_URL=f"postgresql+psycopg://vialog:{PASSWORD}@127.0.0.1:{port}/vialog",
                     VIALOG_INSTANCE=str(tmp_path / "instance"))
    assert _one_error_line(result) == f"Error: Cannot reach the database at 127.0.0.1:{port}: is PostgreSQL running?"


def test_a_postgresql_database_that_does_not_exist_says_to_create_it(tmp_path, postgres_server):
    server = make_url(postgres_server)
    name = f"vialog_missing_{uuid.uuid4().hex[:8]}"
    url = server.set(database=name).render_as_string(hide_password=False)
    for command in ("check", "init-db"):
        line = _one_error_line(_vialog(command, DATABASE_URL=url, VIALOG_INSTANCE=str(tmp_path / "instance")))
        assert line.startswith(f"Error: The database {name} does not exist at {server.host}:{server.port or 5432}: "
                               f"create it (createdb "), line
        assert line.endswith(f" {name}) first, then run `vialog init-db`."), line


def test_a_sqlite_file_that_cannot_be_opened_is_named(tmp_path):
    missing = tmp_path / "no-such-folder" / "vialog.db"
    line = _one_error_line(_vialog("check", DATABASE_URL=f"sqlite:///{missing}", VIALOG_INSTANCE=str(tmp_path)))
    assert line.startswith(f"Error: Cannot open the SQLite database {missing}: does its folder exist"), line


@pytest.mark.parametrize("url", ["notaurl", f"postgresql+psycopg://vialog:{PASSWORD}@db.example:notaport/vialog"])
def test_a_database_url_that_is_no_address_is_refused_before_any_command(tmp_path, url):
    line = _one_error_line(_vialog("check", DATABASE_URL=url, VIALOG_INSTANCE=str(tmp_path)))
    assert line.startswith("Error: DATABASE_URL is not a database address: give one such as sqlite:///"), line


def test_a_database_url_of_another_kind_of_database_is_refused(tmp_path):
    line = _one_error_line(_vialog("check", DATABASE_URL=f"mysql://vialog:{PASSWORD}@db.example/vialog",
                                   VIALOG_INSTANCE=str(tmp_path)))
    assert line.startswith("Error: DATABASE_URL names a mysql database; Vialog runs on SQLite or PostgreSQL"), line


def test_an_instance_folder_that_cannot_be_made_is_named(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    instance = blocked / "instance"
    line = _one_error_line(_vialog("check", DATABASE_URL=None, VIALOG_INSTANCE=str(instance)))
    assert line.startswith(f"Error: Cannot use the instance folder {instance}: Not a directory. Set VIALOG_INSTANCE"), \
        line


def test_help_with_a_bad_setting_says_it_in_one_line_and_still_lists_commands(tmp_path):
    result = _vialog("--help", DATABASE_URL="notaurl", VIALOG_INSTANCE=str(tmp_path))
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "Error: DATABASE_URL is not a database address" in result.output
    assert "Commands:" in result.output


@pytest.mark.parametrize("zone", ["Mars/Base", "", "europe/london", "posixrules"])
def test_a_clinic_tz_that_is_no_time_zone_is_refused_at_start_up(tmp_path, monkeypatch, zone):
    """A bad chain zone used to start, then answer 500 on the first page that read it (/access-log?from=...)."""
    monkeypatch.setenv("CLINIC_TZ", zone)
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    with pytest.raises(ConfigurationError, match="is not a time zone: use an IANA name such as Europe/London"):
        config.from_environment(tmp_path)
    with pytest.raises(ConfigurationError):
        create_app({"TESTING": True})
    line = _one_error_line(_vialog("check", CLINIC_TZ=zone, VIALOG_INSTANCE=str(tmp_path)))
    assert line == f"Error: CLINIC_TZ {zone!r} is not a time zone: use an IANA name such as Europe/London."


def test_a_clinic_tz_that_is_a_time_zone_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_TZ", "America/New_York")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    assert config.from_environment(tmp_path)["CLINIC_TZ"] == "America/New_York"
