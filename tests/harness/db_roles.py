"""The tests run as the service's own database role, as production does.

After pytest-django has created and migrated the test database (as the owner), `apply_roles`
creates a service role and a purge role named after that database (one pair per test database:
pytest-xdist workers and other developers' runs on the same server never share or race on a role)
and grants them what production grants. Every connection then starts as the service role
(`-c role=...`): the session user is still the owner, so a test that must play someone with
owner powers (an attacker switching triggers off, a cleanup that TRUNCATEs) says so explicitly
with `owner_powers()`, and one that plays the retention job uses `as_purge_role()`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections

from plan_service.db_roles import Roles, apply_roles, roles_for_database


def current_test_roles() -> Roles:
    """The roles of the current test database."""
    return roles_for_database(connection.settings_dict["NAME"])


def _start_as(role: str | None) -> None:
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if role is None:
        options.pop("options", None)
    else:
        options["options"] = f"-c role={role}"
    for conn in connections.all():
        conn.close()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's setup, then the roles; every later connection is the service role."""
    with django_db_blocker.unblock():
        if not connection.settings_dict["NAME"].startswith("test_"):
            # pytest-django made no test database (no test in this run is marked django_db):
            # never grant anything on a developer's own database.
            yield
            return
        roles = current_test_roles()
        with connection.cursor() as cursor:
            apply_roles(cursor, roles, retention_days=settings.AUDIT_RETENTION_DAYS)
        _start_as(roles.app)
    yield
    with django_db_blocker.unblock():
        _start_as(None)  # the owner drops the test database


@contextlib.contextmanager
def owner_powers() -> Iterator[None]:
    """The owner's rights until the end of the current transaction (SET LOCAL ROLE NONE)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE NONE")
    yield


@contextlib.contextmanager
def owner_session() -> Iterator[None]:
    """The owner's rights on an autocommit connection, back to the service role after."""
    with connection.cursor() as cursor:
        cursor.execute("SET ROLE NONE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


@contextlib.contextmanager
def as_purge_role() -> Iterator[None]:
    """Act as the retention job's role until the block ends (inside the test's transaction)."""
    from psycopg import sql

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE NONE")
        cursor.execute(
            sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(current_test_roles().purge))
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL ROLE NONE")
            cursor.execute(
                sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(current_test_roles().app))
            )


def in_own_connection(work: Callable[[], Any]) -> Any:
    """Run `work` in a fresh thread, i.e. on its own (autocommit) connection to the test
    database, committing as it goes, while the test keeps its rolled-back transaction; its
    result is returned and what it raises is raised here."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # handed back to the test thread
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def index_valid(cursor: Any, name: str) -> bool | None:
    """Whether the index `name` is valid (`pg_index.indisvalid`); None when there is none."""
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s",
        [name],
    )
    row = cursor.fetchone()
    return None if row is None else row[0]


def superuser_owner(cursor: Any) -> bool:
    """Take the owner's rights on this connection (`in_own_connection`'s, never the test's),
    with statements bounded to 30 s (never a hung suite); whether the owner is a superuser,
    which marking an index invalid takes."""
    cursor.execute("SET ROLE NONE")
    cursor.execute("SET statement_timeout = '30s'")
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return bool(cursor.fetchone()[0])
