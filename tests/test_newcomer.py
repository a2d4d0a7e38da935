"""A newcomer's first hour, as the README tells it (issue 13).

* `./run seed-demo` on a fresh database applies the migrations first;
* the service commands work without SECRET_KEY on the embedded PostgreSQL of a checkout (and
  still refuse to start without one against a database server with DEBUG off);
* SIGTERM to a command (`./run demo` included) stops the embedded PostgreSQL it started.

Each runs `python -m plan_service` (what `./run` executes) in a subprocess, bounded in time.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("DATABASE_URL", "")


def _env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    env["LANGUAGE_CODE"] = "en"  # the commands speak Finnish by default; the tests read English
    env.update(overrides)
    return env


def _run(args: list[str], env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "plan_service", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def fresh_database():
    """An empty database on the test server, dropped afterwards."""
    if not SERVER_URL:
        pytest.skip("needs DATABASE_URL (a server on which a scratch database can be made)")
    name = f"test_newcomer_{uuid.uuid4().hex[:12]}"
    base = SERVER_URL.rsplit("/", 1)[0]
    try:
        admin = psycopg.connect(f"{base}/postgres", autocommit=True)
    except psycopg.Error as exc:
        pytest.skip(f"cannot reach the server's postgres database: {exc}")
    with admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test role may not create databases")
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_seed_demo_on_a_fresh_database_migrates_first_and_audit_verify_works(fresh_database):
    env = _env(DATABASE_URL=fresh_database, DEBUG="1")
    seeded = _run(["seed-demo"], env)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    assert "applying migrations first" in seeded.stdout
    assert "sosiaalityontekija" in seeded.stdout
    verified = _run(["audit-verify"], env)
    assert verified.returncode == 0, verified.stderr[-3000:]
    assert "intact" in verified.stdout


def test_a_database_server_with_debug_off_still_needs_a_secret_key():
    env = _env(DATABASE_URL="postgres://nobody@127.0.0.1:9/none", DEBUG="0")
    result = _run(["check"], env, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedded") / "pgdata"


def test_service_commands_need_no_secret_key_on_the_embedded_database(pgdata):
    result = _run(["check"], _env(EMBEDDED_PGDATA=str(pgdata)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no issues" in result.stdout
    assert not (pgdata / "postmaster.pid").exists()  # stopped when the command ended


def test_sigterm_stops_the_embedded_postgresql(pgdata):
    sleeper = "import time; print('ready', flush=True); time.sleep(300)"
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "plan_service", "shell", "--no-imports", "-c", sleeper],
        cwd=ROOT,
        env=_env(EMBEDDED_PGDATA=str(pgdata)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 300
        line = ""
        while line.strip() != "ready":
            assert time.monotonic() < deadline, "the command did not start within 300 s"
            ready, _, _ = select.select([process.stdout], [], [], 5)
            if ready:
                line = process.stdout.readline()
                assert line or process.poll() is None, process.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert (pgdata / "postmaster.pid").exists()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL kept running"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
