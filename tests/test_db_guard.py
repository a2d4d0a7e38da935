"""The harness touches no database it did not create as a test database (harness/db_guard.py).

Each test makes a real, seeded, non-test database on the same PostgreSQL server, points
`DATABASE_URL` at it and runs pytest on one test file in a subprocess, the way a developer would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests.harness import db_guard

FLAGS = ("-n", "0", "-q")
ROOT = Path(__file__).resolve().parent.parent


def _server_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def _counts(name: str) -> tuple[int, ...]:
    with psycopg.connect(_server_url(name)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM auth_user),"
            " (SELECT count(*) FROM participants_organization),"
            " (SELECT count(*) FROM audit_accessevent), (SELECT count(*) FROM django_migrations)"
        ).fetchone()
    assert row is not None
    return tuple(row)


def _pytest(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["DATABASE_URL"] = _server_url(database)
    return subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *FLAGS,
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded_db() -> Iterator[str]:
    """A migrated database with users and an organisation, named like a real one."""
    name = f"guard_victim_{uuid.uuid4().hex[:10]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {**os.environ, "DATABASE_URL": _server_url(name), "SECRET_KEY": "guard-test-key"}
        subprocess.run(
            [sys.executable, "-m", "plan_service", "migrate", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
        )
        with psycopg.connect(_server_url(name)) as conn:
            for i in range(3):
                conn.execute(
                    "INSERT INTO auth_user (password, is_superuser, username, first_name,"
                    " last_name, email, is_staff, is_active, date_joined)"
                    " VALUES ('!', false, %s, '', '', '', false, true, now())",
                    [f"real-user-{i}"],
                )
            conn.execute(
                "INSERT INTO participants_organization"
                " (id, name, oid, sector, created_at, updated_at, public, custodian_register_id,"
                "  emergency_access_allowed) VALUES"
                " (gen_random_uuid(), 'Real county', '1.2.246.10.99.1', 'social', now(), now(),"
                "  true, '', false)"
            )
        yield name
    finally:
        for db in (name, f"test_{name}"):
            _drop(db)


@pytest.fixture
def seeded(seeded_db: str) -> Iterator[str]:
    """The seeded database; a `test_` namesake made by the test is dropped afterwards."""
    yield seeded_db
    _drop(f"test_{seeded_db}")


def _drop(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_live_db_only_file_runs_in_a_test_database_and_leaves_the_real_one_intact(seeded):
    """The reported wipe: only `live_db` tests selected, which used to truncate DATABASE_URL."""
    before = _counts(seeded)
    assert before[:2] == (3, 1)
    run = _pytest(
        seeded,
        "tests/plans/test_concurrency.py::test_two_simultaneous_creates_give_one_plan_and_one_409",
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
    assert _counts(seeded) == before


def test_a_test_database_the_harness_did_not_create_stops_the_run(seeded):
    """`test_<name>` exists with someone's data: not reused, not dropped, no test runs."""
    foreign = f"test_{seeded}"
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(foreign), sql.Identifier(seeded)
        )
    )
    before = (_counts(seeded), _counts(foreign))
    for reuse in ("--reuse-db", "--create-db"):
        run = _pytest(seeded, reuse, "tests/plans/test_concurrency.py")
        assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
        assert "refusing to run tests" in run.stdout + run.stderr
        assert "passed" not in run.stdout
        assert (_counts(seeded), _counts(foreign)) == before
    # The per-connection check refuses both, whatever their name.
    for name in (seeded, foreign):
        refused = pytest.raises(db_guard.NotATestDatabaseError)
        with psycopg.connect(_server_url(name)) as raw, refused:
            db_guard.check_raw_connection(name, raw)


@pytest.mark.django_db
def test_this_run_uses_a_marked_test_database():
    from django.db import connection

    assert connection.settings_dict["NAME"].startswith("test_")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {db_guard.MARKER_TABLE}")  # noqa: S608
        assert cursor.fetchone()[0] >= 1
