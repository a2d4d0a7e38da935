"""Least privilege by default (issue 12, found 3 and 4).

The tests connect as the service's own role, granted by `plan_service.db_roles` exactly as in
production. As that role every log and every history table refuses UPDATE, DELETE, TRUNCATE and
ALTER, while the plan tables work; the retention window is no back door for anyone but the purge
role, and even that role may only remove rows older than the policy's retention by the database's
clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.db_roles import append_only_tables
from plan_service.plans.models import Goal, Plan
from tests import factories
from tests.audit.helpers import append_rows
from tests.harness.db_roles import as_purge_role, current_test_roles, owner_powers

pytestmark = pytest.mark.django_db


def _tables() -> list[str]:
    return connection.introspection.table_names()


def _refused(statement: sql.Composable | str, params: list[object] | None = None) -> str:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement, params or [])
    return str(info.value)


def test_the_tests_run_as_the_service_role_which_is_no_superuser():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
        name, *powers = cursor.fetchone()
    assert name == current_test_roles().app
    assert powers == [False, False, False, False]


def test_every_log_and_history_table_is_covered():
    covered = set(append_only_tables(_tables()))
    for expected in (
        "audit_accessevent",
        "audit_disclosure",
        "plans_historicalplan",
        "plans_historicalgoal",
        "participants_historicalperson",
        "consent_historicalconsent",
    ):
        assert expected in covered
    history = {t for t in _tables() if "_historical" in t}
    assert history <= covered
    assert len(history) >= 10


def test_service_role_cannot_update_delete_truncate_or_alter_any_log_or_history_table():
    # One row in every table, so a refused UPDATE or DELETE is not just a no-op on nothing.
    lead = factories.professional()
    plan = factories.plan(lead)
    append_rows(AccessEvent, 1)
    append_rows(Disclosure, 1)
    for table in append_only_tables(_tables()):
        name = sql.Identifier(table)
        for statement in (
            sql.SQL("UPDATE {} SET id = id").format(name),
            sql.SQL("DELETE FROM {}").format(name),
            sql.SQL("TRUNCATE {}").format(name),
        ):
            assert "permission denied" in _refused(statement), (table, statement)
        for statement in (
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(name),
            sql.SQL("ALTER TABLE {} ADD COLUMN forged integer").format(name),
            sql.SQL("DROP TABLE {}").format(name),
        ):
            assert "must be owner" in _refused(statement), (table, statement)
    # The history rows of the plan are still there, unchanged.
    assert Plan.history.filter(id=plan.pk).count() >= 1


def test_service_role_works_on_the_plan_tables():
    lead = factories.professional()
    plan = factories.plan(lead)
    goal = Goal.objects.create(plan=plan, category="social", title="Goal")
    Goal.objects.filter(pk=goal.pk).update(title="Changed")
    assert Goal.objects.get(pk=goal.pk).title == "Changed"
    goal.delete()
    assert not Goal.objects.filter(pk=goal.pk).exists()


def _purge_delete(cutoff: str, row_id: object) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('plan_service.audit_purge', %s, true)", [cutoff])
    try:
        return _refused("DELETE FROM audit_accessevent WHERE id = %s", [row_id])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_service.audit_purge', '', true)")


@pytest.mark.parametrize("table", ["audit_accessevent", "audit_disclosure"])
def test_the_purge_window_is_no_back_door_for_the_service_role(table):
    """Found 3: `SET LOCAL plan_service.audit_purge = '9999-01-01'; DELETE ...` gave DELETE 1."""
    model = AccessEvent if table == "audit_accessevent" else Disclosure
    [row] = append_rows(model, 1, age=dt.timedelta(days=3000))
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('plan_service.audit_purge', '9999-01-01', true)")
    error = _refused(
        sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(table)), [row.pk]
    )
    assert "permission denied" in error
    assert model.objects.filter(pk=row.pk).exists()


def test_the_purge_window_is_refused_to_the_owner_too():
    [row] = append_rows(AccessEvent, 1, age=dt.timedelta(days=3000))
    with owner_powers():
        assert "only the purge role" in _purge_delete("9999-01-01", row.pk)
    assert AccessEvent.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(
    "cutoff",
    ["9999-01-01", "infinity", "now", "{yesterday}"],
)
def test_the_purge_role_cannot_use_a_cutoff_inside_the_retention_period(cutoff):
    [row] = append_rows(AccessEvent, 1, age=dt.timedelta(days=3000))
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    with as_purge_role():
        error = _purge_delete(cutoff.format(yesterday=yesterday), row.pk)
    assert "within the retention period" in error
    assert AccessEvent.objects.filter(pk=row.pk).exists()


def test_the_purge_role_may_remove_only_rows_older_than_the_retention_by_the_db_clock():
    [old] = append_rows(AccessEvent, 1, age=dt.timedelta(days=800))
    [recent] = append_rows(AccessEvent, 1, age=dt.timedelta(days=700))
    with connection.cursor() as cursor:
        cursor.execute("SELECT (now() - interval '731 days')::text")
        cutoff = cursor.fetchone()[0]
    with as_purge_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_service.audit_purge', %s, true)", [cutoff])
            cursor.execute("DELETE FROM audit_accessevent WHERE id = %s", [old.pk])
            assert cursor.rowcount == 1
        assert "append-only" in _purge_delete(cutoff, recent.pk)
    assert not AccessEvent.objects.filter(pk=old.pk).exists()
    assert AccessEvent.objects.filter(pk=recent.pk).exists()


def test_the_purge_role_cannot_touch_plan_data_or_rewrite_rows():
    [row] = append_rows(AccessEvent, 1)
    with as_purge_role():
        assert "permission denied" in _refused("SELECT 1 FROM plans_plan")
        assert "permission denied" in _refused(
            "UPDATE audit_accessevent SET purpose = 'x' WHERE id = %s", [row.pk]
        )
        assert "permission denied" in _refused("TRUNCATE audit_accessevent")
