"""Building an index without blocking writes, in a migration (`CREATE INDEX CONCURRENTLY`).

Such a migration runs outside a transaction (`atomic = False`), so a build interrupted half-way
leaves an invalid index of the name behind and the migration unapplied; migrating again would
then fail on the name. `drop_invalid(names)` is the operation to run first: it drops an index of
one of those names that is left invalid (`NOT indisvalid`), and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import migrations


def drop_invalid(names: Sequence[str]) -> migrations.RunPython:
    """The migration operation that drops what an interrupted build of `names` left behind."""

    def run(apps: Any, schema_editor: Any) -> None:
        quote = schema_editor.connection.ops.quote_name
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE NOT i.indisvalid AND c.relname = ANY(%s)",
                [list(names)],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")

    return migrations.RunPython(run, migrations.RunPython.noop)
