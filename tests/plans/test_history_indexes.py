"""A write's answer finds history rows by their object and version through an index.

Continuing a kept replay reads the item's history rows after a plan version, and checks that
the plan's history still holds the version the replay was kept at (plans/visibility.py). With
only django-simple-history's index on the object id, each read every history row of the item
or plan: a cost growing with every change ever made to it."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

from plan_service.plans import kinds, services
from plan_service.plans.models import Goal, Plan
from plan_service.plans.visibility import history_model
from tests import factories
from tests.harness.db_roles import in_own_connection, index_valid, owner_session, superuser_owner

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("plan_service.plans.migrations.0008_history_by_version")


def test_every_history_table_has_an_index_on_id_and_version():
    """Every kind's (a kind added later brings its own index in its own migration)."""
    tables = {history_model(k.model)._meta.db_table: "plan_version" for k in kinds.all_kinds()}
    tables[history_model(Plan)._meta.db_table] = "version"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(tables)]
        )
        found = {(t, d.split(" USING btree ")[1]) for t, d in cursor.fetchall() if "btree" in d}
    assert {(t, f"(id, {c})") for t, c in tables.items()} <= found


def _copies(model, row_id: int, column: str, versions: range) -> None:
    """Copies of one history row at other versions (as many changes would have made)."""
    names = [f.column for f in model._meta.concrete_fields if f.column != "history_id"]
    listed = ", ".join(names)
    chosen = ", ".join("g" if n == column else n for n in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({listed}) SELECT {chosen} "  # noqa: S608
            f"FROM {model._meta.db_table}, generate_series(%s, %s) g WHERE history_id = %s",
            [versions.start, versions.stop - 1, row_id],
        )


def _index_condition(explained: str) -> str:
    """What the plan searches its index by (not what it filters the rows found by)."""
    return next(line for line in explained.splitlines() if "Index Cond" in line)


def test_a_much_changed_goal_and_plan_are_read_by_version_not_walked():
    """A goal and its plan with 400 history rows each, beside 100 plans of a few rows, with
    fresh statistics: the lookups a write's answer makes go through the (id, version) index."""
    lead = factories.professional()
    plans = [factories.plan(lead) for _ in range(3)]
    goal = services.item_create(
        actor=lead.user, plan_id=plans[0].pk, model=Goal, data={"category": "general", "title": "t"}
    )
    goals, plan_rows = history_model(Goal), history_model(Plan)
    _copies(goals, goals.objects.get(id=goal.pk).history_id, "plan_version", range(10, 410))
    _copies(
        plan_rows,
        plan_rows.objects.filter(id=plans[0].pk).first().history_id,
        "version",
        range(10, 410),
    )
    with owner_session(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {goals._meta.db_table}, {plan_rows._meta.db_table}")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    since = goals.objects.filter(
        plan_id=plans[0].pk, id=goal.pk, plan_version__gt=200, plan_version__lte=201
    ).order_by("history_date", "history_id")
    explained = since.explain()
    assert "plan_version >" in _index_condition(explained), explained
    assert since.count() == 1
    kept = plan_rows.objects.filter(id=plans[0].pk, version=300)
    explained = kept.explain()
    assert "version = 300" in _index_condition(explained), explained
    assert kept.count() == 1


def test_migrating_again_rebuilds_an_index_an_interrupted_build_left_invalid():
    """`CREATE INDEX CONCURRENTLY` interrupted leaves an invalid index, which `IF NOT EXISTS`
    would keep: the migration drops it first, and its index is built again and valid. (On a
    connection of its own in autocommit, as the migration runs, as the owner; marking an index
    invalid takes a superuser, which the test database's owner is here.)"""
    name = MIGRATION.index_name("plans_historicalgoal")
    create = next(op.sql for op in MIGRATION.Migration.operations if name in getattr(op, "sql", ""))

    def interrupt_then_migrate_again() -> list[bool | None]:
        with connection.cursor() as cursor:
            if not superuser_owner(cursor):
                return []
            seen = [index_valid(cursor, name)]
            cursor.execute(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [name]
            )
            seen.append(index_valid(cursor, name))
            MIGRATION.drop_invalid(None, type("Editor", (), {"connection": connection})())
            seen.append(index_valid(cursor, name))
            cursor.execute(create)
            seen.append(index_valid(cursor, name))
            return seen

    seen = in_own_connection(interrupt_then_migrate_again)
    if not seen:
        pytest.skip("marking an index invalid takes a superuser connection")
    assert seen == [True, False, None, True]
