"""psycopg's C `timestamptz` loader gives exactly Django's values (plan_service/db_loaders.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, connections
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import postgres
from psycopg.pq import Format

from plan_service.db_loaders import UtcTimestamptzLoader
from plan_service.plans.models import Plan
from tests import factories

pytestmark = pytest.mark.django_db

_OID = postgres.types["timestamptz"].oid

#: Values at the edges of what a timestamptz holds, microseconds, a Helsinki offset, DST days.
ROWS = """
    SELECT v FROM (VALUES
        ('2026-03-29 02:59:59.999999+02'::timestamptz),
        ('2026-03-29 04:00:00.000001+03'),
        ('2026-10-25 03:30:00+03'), ('2026-10-25 03:30:00+02'),
        ('0001-01-01 00:00:00+00'), ('9999-12-31 23:59:59.999999+00'),
        ('1901-12-13 20:45:52.5-00:20'), (NULL)
    ) AS t(v)
    UNION ALL SELECT now() UNION ALL SELECT clock_timestamp()
"""


def _rows(cursor) -> list[object]:
    cursor.execute(f"SELECT v, v::text FROM ({ROWS}) AS r ORDER BY v::text")  # noqa: S608
    return cursor.fetchall()


def test_the_service_connection_loads_timestamps_with_the_c_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(_OID, Format.TEXT)
    assert loader is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (value,) = cursor.fetchone()
    assert value.tzinfo is dt.UTC


def test_the_c_loader_gives_djangos_values_row_for_row():
    with connection.cursor() as cursor:
        ours = _rows(cursor)
        # The same rows through Django's own loader, registered on this cursor only.
        register_tzloader(connection.timezone, cursor.cursor)
        djangos = _rows(cursor)
    assert len(ours) == 10
    for (a, text_a), (b, text_b) in zip(ours, djangos, strict=True):
        if text_a != text_b:  # clock_timestamp(): read twice, differs by design
            continue
        assert a == b
        assert (a is None) == (b is None)
        if a is not None:
            assert a.tzinfo is b.tzinfo is dt.UTC
            assert (a.year, a.microsecond, a.isoformat()) == (b.year, b.microsecond, b.isoformat())


def test_orm_rows_come_back_as_djangos_loader_gives_them():
    plan = factories.plan(factories.professional())
    fresh = Plan.objects.get(pk=plan.pk)
    assert fresh.created_at == plan.created_at
    assert fresh.created_at.tzinfo is dt.UTC


def test_a_session_in_another_time_zone_keeps_djangos_loader():
    """With a per-database TIME_ZONE the session is not UTC; the C loader would give that
    zone's tzinfo, so Django's loader stays (and converts)."""
    settings = {**connections["default"].settings_dict, "TIME_ZONE": "Europe/Helsinki"}
    other = connections["default"].__class__(settings)
    try:
        other.ensure_connection()
        loader = other.connection.adapters.get_loader(_OID, Format.TEXT)
        assert loader is not UtcTimestamptzLoader
        with other.cursor() as cursor:
            cursor.execute("SELECT '2026-06-01 12:00:00+00'::timestamptz")
            (value,) = cursor.fetchone()
        assert value == dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
        assert value.utcoffset() == dt.timedelta(hours=3)
    finally:
        other.close()
