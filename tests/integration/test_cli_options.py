"""``vialog`` options out of range, hosts, anchors and clinic codes: a plain line, never a traceback."""

from __future__ import annotations

import errno
import socket

import pytest
from click.testing import Result
from sqlalchemy import select

from inventory.models import User
from inventory.services.audit_chain import MAX_ROW_ID


def _refused(result: Result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


# --- purge-idempotency ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hours", ["20000000", "99999999999999"])
def test_purge_idempotency_refuses_an_age_beyond_ten_years_in_one_line(app, hours):
    said = _refused(app.test_cli_runner().invoke(args=["purge-idempotency", "--older-than-hours", hours]))
    assert f"Error: Invalid value for '--older-than-hours': {hours} is not in the range x<=87600." in said


def test_purge_idempotency_takes_ten_years(app, session, world):
    done = app.test_cli_runner().invoke(args=["purge-idempotency", "--older-than-hours", "87600"])
    assert done.exit_code == 0 and "Deleted 0 idempotency records older than 87600 hours." in done.output


# --- serve ------------------------------------------------------------------------------------------------------


@pytest.fixture
def gunicorn_never_runs(monkeypatch):
    from gunicorn.app.base import BaseApplication

    monkeypatch.setenv("SECRET_KEY", "a-test-secret-key-long-enough")
    started: list[dict] = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(
        {"workers": self.cfg.workers, "threads": self.cfg.threads, "worker_class": self.cfg.worker_class_str}))
    return started


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--port", "99999", "99999 is not in the range 1<=x<=65535."),
    ("--port", "0", "0 is not in the range 1<=x<=65535."),
    ("--workers", "-3", "-3 is not in the range x>=1."),
    ("--workers", "0", "0 is not in the range x>=1."),  # the default (no --workers) is one per core
    ("--threads", "0", "0 is not in the range x>=1."),
])
def test_serve_refuses_a_number_out_of_range_before_saying_anything_else(app, gunicorn_never_runs, option, value, said):
    output = _refused(app.test_cli_runner().invoke(args=["serve", option, value]))
    assert f"Error: Invalid value for '{option}': {said}" in output
    assert "Vialog serving" not in output and gunicorn_never_runs == []


def test_serve_without_workers_runs_one_per_core(app, gunicorn_never_runs, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    served = app.test_cli_runner().invoke(args=["serve", "--port", str(port), "--threads", "1"])
    assert served.exit_code == 0, served.output
    assert f"Vialog serving http://127.0.0.1:{port} with 3 workers of 1 thread." in served.output
    assert gunicorn_never_runs == [{"workers": 3, "threads": 1, "worker_class": "sync"}]


class _Probe:
    """A socket whose bind fails as ``error`` says (no name is looked up, no address is bound)."""

    error: OSError

    def __init__(self, *args) -> None:
        pass

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def setsockopt(self, *args) -> None:
        pass

    def bind(self, address) -> None:
        raise self.error


@pytest.mark.parametrize(("error", "said"), [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
     "Error: Cannot find the host nosuchhost.invalid (Name or service not known): give --host an address of this "
     "server, such as 127.0.0.1 or 0.0.0.0 (every address)."),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
     "Error: nosuchhost.invalid is not an address of this server (Cannot assign requested address): give --host one "
     "of its own, such as 127.0.0.1 or 0.0.0.0 (every address)."),
    (OSError(errno.EACCES, "Permission denied"), "Error: Cannot serve on nosuchhost.invalid port 8000: Permission denied."),
])
def test_serve_tells_a_host_it_cannot_use_apart_from_a_port_in_use(app, gunicorn_never_runs, monkeypatch, error, said):
    monkeypatch.setattr(_Probe, "error", error, raising=False)
    monkeypatch.setattr("inventory.cli.socket.socket", _Probe)
    output = _refused(app.test_cli_runner().invoke(args=["serve", "--host", "nosuchhost.invalid"]), exit_code=1)
    assert output.splitlines() == [said]
    assert "already in use" not in output and gunicorn_never_runs == []


# --- verify -----------------------------------------------------------------------------------------------------


def test_verify_refuses_an_anchor_id_beyond_any_row_in_one_line(app, session, world):
    for kind in ("audit", "movements"):
        anchor = f"{kind}:99999999999999999999999:{'a' * 64}"
        output = _refused(app.test_cli_runner().invoke(args=["verify", "--anchor", anchor]))
        assert f"Error: {anchor!r} is not an anchor: no {kind} id is above {MAX_ROW_ID}" in output


def test_verify_names_a_broken_anchor_once(app, session, world):
    world.container("botox")
    session.commit()
    anchor = f"audit:{MAX_ROW_ID}:{'a' * 64}"  # the largest id there can be: checked, and gone
    result = app.test_cli_runner().invoke(args=["verify", "--anchor", anchor])
    assert result.exit_code == 1, result.output
    assert f"ANCHOR {anchor}: audit event {MAX_ROW_ID} is gone" in result.output.splitlines()


# --- clinic codes -------------------------------------------------------------------------------------------------


def test_create_user_takes_a_clinic_code_in_any_case_as_the_admin_pages_do(app, world, session):
    result = app.test_cli_runner().invoke(
        args=["create-user", "sam", "--role", "nurse", "--clinic", "lon", "--clinic", " Nyc ", "--clinic", "LON",
              "--password-stdin"],
        input="a-long-enough-secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created sam (nurse) working at LON, NYC." in result.output
    user = session.scalar(select(User).where(User.username == "sam"))
    assert sorted(c.code for c in user.clinics) == ["LON", "NYC"]
    unknown = app.test_cli_runner().invoke(
        args=["create-user", "kim", "--role", "nurse", "--clinic", "par", "--password-stdin"], input="a-long-enough-secret\n")
    assert (unknown.exit_code, unknown.output) == (1, "Error: No clinic with code 'par'.\n")


def test_kits_takes_a_clinic_code_in_any_case(app, world, session):
    from tests.factories import NOW
    from tests.kit_factories import check, stocked_kit

    check(world, stocked_kit(world))
    session.commit()
    runner = app.test_cli_runner()
    board = runner.invoke(args=["kits", "--clinic", "lon", "--at", NOW.isoformat()])
    assert board.exit_code == 0, board.output
    assert board.output.splitlines()[-1] == "1 kit: 1 ready, 0 expiring soon, 0 not ready."
    none = runner.invoke(args=["kits", "--clinic", "nyc"])
    assert none.exit_code == 0 and none.output.splitlines() == ["0 kits: 0 ready, 0 expiring soon, 0 not ready."]
    unknown = runner.invoke(args=["kits", "--clinic", "lon", "--clinic", "par", "--clinic", "l!"])
    assert (unknown.exit_code, unknown.output) == (2, "Error: No clinic with code l!, par.\n")
