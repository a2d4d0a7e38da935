"""psycopg's C `timestamptz` loader gives exactly Django's values (plan_service/db_loaders.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, connections, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import postgres
from psycopg.pq import Format

from plan_service import prepared
from plan_service.db_loaders import UtcTimestamptzLoader
from plan_service.plans.models import Plan
from tests import factories

pytestmark = pytest.mark.django_db

_OID = postgres.types["timestamptz"].oid

#: Microseconds, the first and last moments a timestamptz holds in Python, NULL and the
#: transaction's own time. (A UTC session sends every value with +00, whatever offset it was
#: written with, so the offsets below only vary the instants.)
VALUES = """
    SELECT v FROM (VALUES
        ('2026-03-29 02:59:59.999999+02'::timestamptz), ('2026-10-25 03:30:00.000001+03'),
        ('0001-01-01 00:00:00+00'), ('9999-12-31 23:59:59.999999+00'),
        ('1901-12-13 20:45:52.5-00:20'), (NULL)
    ) AS t(v)
    UNION ALL SELECT now()
"""
#: Each value alone, in an array and as a range's bound: arrays and ranges load their elements
#: with the connection's timestamptz loader too.
ROWS = f"SELECT v, ARRAY[v, v], tstzrange(v, NULL) FROM ({VALUES}) AS r ORDER BY v"  # noqa: S608


def _loader(cursor) -> type:
    return cursor.cursor.adapters.get_loader(_OID, Format.TEXT)


def test_every_kind_of_cursor_the_service_uses_loads_with_the_c_loader():
    """Django's `create_cursor` registers its own loader on a cursor whose connection's loader
    has another `timezone`: the cursors must keep ours, not only the connection."""
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(_OID, Format.TEXT) is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        assert _loader(cursor) is UtcTimestamptzLoader
    with transaction.atomic():
        chunked = connection.chunked_cursor()  # QuerySet.iterator's named cursor
        try:
            assert _loader(chunked) is UtcTimestamptzLoader
        finally:
            chunked.close()
    with prepared.server_cursor() as cursor:  # the read model's lookup, the access templates
        assert _loader(cursor) is UtcTimestamptzLoader


def test_the_c_loader_gives_djangos_values_row_for_row():
    with connection.cursor() as cursor:
        cursor.execute(ROWS)
        ours = cursor.fetchall()
        # The same rows through Django's own loader, registered on this cursor only.
        register_tzloader(connection.timezone, cursor.cursor)
        assert _loader(cursor) is not UtcTimestamptzLoader
        cursor.execute(ROWS)
        djangos = cursor.fetchall()
    assert len(ours) == 7
    assert ours == djangos
    for (a, array, bounds), (b, _array, _bounds) in zip(ours, djangos, strict=True):
        if a is None:
            assert b is None
            continue
        assert a.tzinfo is b.tzinfo is dt.UTC
        assert (a.isoformat(), array, bounds.lower) == (b.isoformat(), [b, b], b)


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
