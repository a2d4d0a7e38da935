"""The test harness touches no database but a test database it created itself.

pytest-django creates test databases only for the aliases that selected tests mark with
`django_db`; a run of tests that use only `live_db` (committed data, emptied afterwards) therefore
used to run against the database in `DATABASE_URL` and truncate it. Two guards, installed by
tests/conftest.py before any test runs:

1. **Every session that sets up databases sets up the test database of `default`**, whatever
   tests are selected, so `live_db` and the module `world` always land in it.
2. **Every connection is checked before its first statement** (the PostgreSQL backend's
   `get_new_connection`, before Django's own set-up queries): the database name must start
   with `test_` and the database must hold the marker table `MARKER_TABLE`, which only this
   module creates, right after it created the database
   (an empty database, or one it marked before, with `--reuse-db`). A database with tables but
   no marker is someone else's: the run stops (exit code 3) before any statement touches it,
   and an existing foreign `test_*` database is neither reused nor dropped.

Connections that only create or drop test databases (Django's "no database" alias, on the
server's `postgres` database) are let through: they never read or write a table. So are this
module's own probes, which look only at the catalog of a `test_*` database.
"""

from __future__ import annotations

from typing import Any

import pytest

MARKER_TABLE = "zz_plan_service_test_database"
TEST_PREFIX = "test_"
_NO_DB_ALIAS = "__no_db__"  # django.db.backends.base.base.NO_DB_ALIAS
_installed = False


class NotATestDatabaseError(Exception):
    """The harness was about to use a database it did not create as a test database."""


def refuse(message: str) -> None:
    """Stop the whole run (not just one test): nothing may go on against that database."""
    pytest.exit(f"refusing to run tests: {message}", returncode=3)


def _probe(wrapper_class: type, settings_dict: dict[str, Any], name: str) -> str:
    """`absent`, `empty`, `marked` or `foreign`: what database `name` is, as far as we know."""
    from django.db.utils import OperationalError

    probe = wrapper_class({**settings_dict, "NAME": name}, alias=_NO_DB_ALIAS)
    try:
        with probe.cursor() as cursor:
            cursor.execute(
                """
                SELECT to_regclass(%s) IS NOT NULL,
                       (SELECT count(*) FROM pg_class c
                          JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.relkind IN ('r', 'p', 'v', 'm')
                           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                           AND n.nspname NOT LIKE 'pg\\_toast%%')
                """,
                [f"public.{MARKER_TABLE}"],
            )
            marked, tables = cursor.fetchone()
    except OperationalError as exc:
        if "does not exist" in str(exc):
            return "absent"
        raise
    finally:
        probe.close()
    if marked:
        return "marked"
    return "empty" if tables == 0 else "foreign"


def _mark(wrapper_class: type, settings_dict: dict[str, Any], name: str) -> None:
    probe = wrapper_class({**settings_dict, "NAME": name}, alias=_NO_DB_ALIAS)
    try:
        with probe.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS public.{MARKER_TABLE} ("
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " note text NOT NULL DEFAULT 'created by the plan_service test harness')"
            )
            cursor.execute(f"INSERT INTO public.{MARKER_TABLE} DEFAULT VALUES")
    finally:
        probe.close()


def check_raw_connection(name: str, raw: Any) -> None:
    """Raise NotATestDatabaseError unless the fresh DB-API connection `raw` is to a marked test
    database named `name`. The only statement it runs is a catalog lookup."""
    if not name.startswith(TEST_PREFIX):
        raise NotATestDatabaseError(
            f"database {name!r} is not a test database (its name does not start with "
            f"{TEST_PREFIX!r}); no test may use the database in DATABASE_URL"
        )
    with raw.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{MARKER_TABLE}"])
        (marked,) = cursor.fetchone()
    if not raw.autocommit:
        raw.rollback()
    if not marked:
        raise NotATestDatabaseError(
            f"database {name!r} has no {MARKER_TABLE} table: the test harness did not create it"
        )


def install() -> None:
    """Patch test-database creation and hook every new connection (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True

    from django.db.backends.base.creation import BaseDatabaseCreation
    from django.db.backends.postgresql.base import DatabaseWrapper

    original_create = BaseDatabaseCreation._create_test_db

    def guarded_create(self: Any, verbosity: int, autoclobber: bool, keepdb: bool = False) -> Any:
        name = self._get_test_db_name()
        if not name.startswith(TEST_PREFIX):
            refuse(f"the test database would be {name!r}, not a {TEST_PREFIX}* database")
        wrapper_class, settings_dict = type(self.connection), self.connection.settings_dict
        if _probe(wrapper_class, settings_dict, name) == "foreign":
            refuse(
                f"{name!r} exists and holds tables but was not created by the test harness "
                f"(no {MARKER_TABLE} table); it is neither reused nor dropped. Drop it yourself "
                "if it is a leftover of an older harness."
            )
        result = original_create(self, verbosity, autoclobber, keepdb)
        if _probe(wrapper_class, settings_dict, name) == "empty":
            _mark(wrapper_class, settings_dict, name)
        return result

    BaseDatabaseCreation._create_test_db = guarded_create  # type: ignore[method-assign]

    # Guard 2: every new connection, before Django (or anyone) runs a statement on it.
    original_connect = DatabaseWrapper.get_new_connection

    def guarded_connect(self: Any, conn_params: dict[str, Any]) -> Any:
        raw = original_connect(self, conn_params)
        if self.alias != _NO_DB_ALIAS:
            try:
                check_raw_connection(str(self.settings_dict.get("NAME") or ""), raw)
            except NotATestDatabaseError as exc:
                raw.close()
                refuse(str(exc))
        return raw

    DatabaseWrapper.get_new_connection = guarded_connect  # type: ignore[method-assign]

    # Guard 1: the session's database setup always includes `default` (pytest-django 4.14 reads
    # the aliases from the selected tests' django_db marks only).
    import pytest_django.fixtures as pd_fixtures

    original_aliases = pd_fixtures._get_databases_for_setup

    def with_default(items: Any) -> tuple[set[str], set[str]]:
        aliases, serialized = original_aliases(items)
        return {*aliases, "default"}, serialized

    pd_fixtures._get_databases_for_setup = with_default
