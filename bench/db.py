"""Databases for the benchmarks: create, migrate with the app's own migrations, check, drop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

SERVER = os.environ.get("VIALOG_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")


def conninfo(name: str) -> str:
    return f"{SERVER}/{name}"


def sqlalchemy_url(name: str) -> str:
    return conninfo(name).replace("postgresql://", "postgresql+psycopg://", 1)


def create(name: str) -> None:
    """Drops and creates database ``name``, then applies the app's migrations (``vialog init-db``)."""
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    vialog("init-db", database=name)


def drop(name: str) -> None:
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def exists(name: str) -> bool:
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def vialog_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=sqlalchemy_url(database), SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key-" + "x" * 32))
    env.setdefault("VIALOG_INSTANCE", str(Path("/tmp") / f"vialog-bench-instance-{database}"))
    return env


def vialog(*args: str, database: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the ``vialog`` console script of this interpreter's environment against ``database``."""
    script = Path(sys.executable).with_name("vialog")
    return subprocess.run([str(script), *args], env=vialog_env(database), check=check, text=True,
                          capture_output=True)


def check_and_verify(database: str) -> tuple[bool, str]:
    """``vialog check`` (cached balances = ledger sums) and ``vialog verify`` (hash chains, triggers)."""
    out = []
    ok = True
    for command in ("check", "verify"):
        result = vialog(command, database=database, check=False)
        lines = (result.stdout + result.stderr).strip().splitlines()
        out.append(f"vialog {command}: exit {result.returncode}; " + " | ".join(lines[-3:]))
        ok = ok and result.returncode == 0
    return ok, "\n".join(out)
