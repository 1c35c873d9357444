"""The vialog command line."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from inventory.models import Container, Role, User


def test_check_passes_on_a_clean_ledger_and_fails_on_a_tampered_one(app, world, session):
    container = world.container("botox")
    session.commit()  # releases the test's savepoint so the command's session sees the rows
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["check"])
    assert ok.exit_code == 0 and "matches the ledger" in ok.output
    session.execute(update(Container).where(Container.id == container.id).values(remaining=Decimal(1)))
    session.commit()
    bad = runner.invoke(args=["check"])
    assert bad.exit_code == 1
    assert f"container {container.id} ({container.label_code}): cached 1.0000, ledger 100.0000" in bad.output


def test_create_user_reads_the_password_from_stdin(app, world, session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "sam", "--role", "nurse", "--clinic", "LON", "--password-stdin"],
        input="a-long-enough-secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created sam (nurse) working at LON." in result.output
    user = session.scalar(select(User).where(User.username == "sam"))
    assert user.role is Role.NURSE and not user.is_chain_level and [c.code for c in user.clinics] == ["LON"]
    assert "a-long-enough-secret" not in user.password_hash


def test_create_user_with_a_clinic_named_twice_works_at_it_once(app, world, session):
    result = app.test_cli_runner().invoke(
        args=["create-user", "lee", "--role", "nurse", "--clinic", "LON", "--clinic", "LON", "--password-stdin"],
        input="a-long-enough-secret\n",
    )
    assert result.exit_code == 0 and "working at LON." in result.output, result.output
    user = session.scalar(select(User).where(User.username == "lee"))
    assert [c.code for c in user.clinics] == ["LON"]


def test_create_user_without_clinic_is_chain_level_and_short_passwords_are_refused(app, world, session):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["create-user", "kim", "--role", "manager", "--password-stdin"], input="short\n")
    assert refused.exit_code != 0 and "at least 10 characters" in refused.output
    created = runner.invoke(args=["create-user", "kim", "--role", "manager", "--password-stdin"], input="long-enough-pass\n")
    assert created.exit_code == 0 and "every clinic" in created.output
    assert session.scalar(select(User.is_chain_level).where(User.username == "kim")) is True


def test_serve_refuses_to_start_without_a_secret_key(app, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = app.test_cli_runner().invoke(args=["serve"])
    assert result.exit_code != 0 and "SECRET_KEY" in result.output


def test_serve_gives_each_worker_its_own_socket_and_refuses_a_port_already_served(app, monkeypatch):
    """A listening socket per worker (SO_REUSEPORT) shares connections evenly among the workers; it would also let
    a second server bind a port already served, so serve checks first (docs/performance.md, fourteenth pass)."""
    import socket

    from gunicorn.app.base import BaseApplication

    monkeypatch.setenv("SECRET_KEY", "a-test-secret-key-long-enough")
    started: list[dict] = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(
        {"reuse_port": self.cfg.reuse_port, "bind": self.cfg.bind, "worker_class": self.cfg.worker_class_str}))
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        listening.listen()
        refused = app.test_cli_runner().invoke(args=["serve", "--port", str(port)])
        assert refused.exit_code != 0 and f"Port {port} on 127.0.0.1 is already in use" in refused.output
        assert started == []
    served = app.test_cli_runner().invoke(args=["serve", "--port", str(port)])  # the port free again
    assert served.exit_code == 0 and f"Vialog serving http://127.0.0.1:{port}" in served.output, served.output
    assert started == [{"reuse_port": True, "bind": [f"127.0.0.1:{port}"], "worker_class": "gthread"}]


def test_a_database_never_set_up_is_explained_in_one_line(tmp_path, monkeypatch):
    """A newcomer's first `vialog check` before `vialog init-db`: a sentence, not a traceback."""
    from click.testing import CliRunner

    from inventory.cli import main

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VIALOG_INSTANCE", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "has no Vialog tables yet: run `vialog init-db`" in result.output
    assert "Traceback" not in result.output
