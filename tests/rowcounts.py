"""Row counts of every table but the logs: what a refused write must leave unchanged.

History tables are included, so an update that slipped through (which writes a history row)
changes the counts too.
"""

from __future__ import annotations

import functools

from django.db import connection


@functools.cache
def _count_query() -> str:
    """One statement counting every table but the logs (the tables are fixed once migrated)."""
    tables = sorted(
        t
        for t in connection.introspection.django_table_names(only_existing=True)
        if not t.startswith("audit_")
    )
    # Table names come from Django's own model registry, not from input.
    return " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)  # noqa: S608


def table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(_count_query())
        return dict(cursor.fetchall())
