"""Least privilege in the database: who may do what to which table.

Three roles touch the service's database:

* the **owner** (`plan_owner` in production; the superuser of the embedded cluster and of CI)
  runs migrations and owns every table;
* the **service role** (`DATABASE_APP_ROLE`, default `plan_app`) is what the service connects
  as: full DML on plan and registry tables, but only SELECT and INSERT on the logs and on every
  history table (`*_historical*`), SELECT on the purge points and the retention policy, no
  TRUNCATE and no DDL anywhere;
* the **purge role** (`DATABASE_PURGE_ROLE`, default `plan_audit_purge`) runs the retention
  purge and nothing else: SELECT, INSERT and DELETE on the two logs, SELECT and INSERT on the
  purge points. The delete trigger also checks it is this role (`audit_retentionpolicy`).

`apply_roles` (the `db_roles` command, run as the owner after every `migrate`) creates the roles
if they are missing and sets the grants table by table from what the database holds, so a new
history table is covered without editing a list. It is idempotent and safe to run from several
processes at once: roles are cluster-global, so creation tolerates a concurrent creator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

#: The logs: the service appends and reads, never changes.
APPEND_ONLY_LOGS = ("audit_accessevent", "audit_disclosure")
#: Audit bookkeeping the service only reads (the purge and the owner write it).
READ_ONLY = ("audit_purgepoint", "audit_retentionpolicy", "django_migrations")
#: simple_history's tables are named <app>_historical<model>.
HISTORY_MARKER = "_historical"


@dataclass(frozen=True)
class Roles:
    app: str
    purge: str


def is_history_table(table: str) -> bool:
    return HISTORY_MARKER in table


def append_only_tables(tables: list[str]) -> list[str]:
    """The tables on which the service may only SELECT and INSERT: logs and history."""
    return sorted(t for t in tables if t in APPEND_ONLY_LOGS or is_history_table(t))


def _tables(cursor: Any) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    return [row[0] for row in cursor.fetchall()]


def ensure_role(cursor: Any, name: str) -> None:
    """Create login role `name` unless it exists; a concurrent creator is not an error."""
    statement = sql.SQL(
        "DO $$ BEGIN CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    ).format(sql.Identifier(name))
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    if cursor.fetchone() is None:
        cursor.execute(statement)


def apply_roles(cursor: Any, roles: Roles, *, retention_days: int) -> None:
    """Create the service and purge roles if needed and grant exactly what each may do.

    Runs as the owner, in the caller's transaction. Grants are recomputed from scratch for every
    table of the public schema, so running it again after a migration is always right.
    """
    # Serialise concurrent runs on this database (GRANTs on one table can collide).
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('plan_service.db_roles'))")
    for name in (roles.app, roles.purge):
        ensure_role(cursor, name)
    app, purge = sql.Identifier(roles.app), sql.Identifier(roles.purge)
    cursor.execute("SELECT current_database()")
    database = sql.Identifier(cursor.fetchone()[0])
    tables = _tables(cursor)
    both = sql.SQL("{}, {}").format(app, purge)
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, both),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(both),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(both),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(both),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app),
    ]
    append_only = set(append_only_tables(tables))
    for table in tables:
        name = sql.Identifier(table)
        if table in append_only:
            rights = "SELECT, INSERT"
        elif table in READ_ONLY:
            rights = "SELECT"
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(sql.SQL("GRANT " + rights + " ON {} TO {}").format(name, app))
    for table, rights in (
        ("audit_accessevent", "SELECT, INSERT, DELETE"),
        ("audit_disclosure", "SELECT, DELETE"),
        ("audit_purgepoint", "SELECT, INSERT"),
        ("audit_retentionpolicy", "SELECT"),
    ):
        if table in tables:
            statements.append(
                sql.SQL("GRANT " + rights + " ON {} TO {}").format(sql.Identifier(table), purge)
            )
    statements.append(
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(purge)
    )
    for statement in statements:
        cursor.execute(statement)
    if "audit_retentionpolicy" in tables:
        cursor.execute(
            "UPDATE audit_retentionpolicy SET days = %s, purge_role = %s WHERE id = 1",
            [retention_days, roles.purge],
        )


def configured_roles() -> Roles:
    """The role names from the settings (DATABASE_APP_ROLE, DATABASE_PURGE_ROLE)."""
    from django.conf import settings

    return Roles(app=settings.DATABASE_APP_ROLE, purge=settings.DATABASE_PURGE_ROLE)


def roles_for_database(database: str) -> Roles:
    """Role names derived from a database name (test databases: one pair per database, so
    parallel runs on one server, each with its own database, never share or race on a role)."""
    base = database[:50]
    return Roles(app=f"{base}_app", purge=f"{base}_purge")
