"""History rows found by their object and version, not by a walk of the object's history.

Every write of an item answers with the item as the writer sees it, continuing a kept replay
(plans/visibility.py): it reads the item's history rows after a plan version
(`_ItemReplay._rows_since`) and checks that the plan's history still holds the version the
replay was kept at (`_kept`). Both were served by django-simple-history's index on the object
id alone, so each read every history row of the item or plan and filtered them: 7 ms for a goal
changed 7,000 times, 24 ms (cold) for a plan of 7,500 versions. An index on (id, version) per
history table finds them directly. Built concurrently, so a deploy does not block writes; an
earlier run interrupted while building leaves an invalid index behind, which `IF NOT EXISTS`
would keep, so such an index is dropped first and built again.
"""

from django.db import migrations

#: The history tables and the version column their rows are found by.
VERSIONED = {
    "plans_historicalplan": "version",
    **{
        f"plans_historical{kind}": "plan_version"
        for kind in ("need", "goal", "action", "review", "comment", "dissent", "acknowledgement")
    },
}


def index_name(table: str) -> str:
    return f"{table}_id_{VERSIONED[table]}"


def drop_invalid(apps: object, schema_editor: object) -> None:
    """Drop what an interrupted build of these indexes left behind (`NOT indisvalid`)."""
    with schema_editor.connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname = ANY(%s)",
            [[index_name(t) for t in VERSIONED]],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("plans", "0007_reader_versions"),
    ]

    operations = [
        migrations.RunPython(drop_invalid, migrations.RunPython.noop),
        *(
            migrations.RunSQL(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index_name(table)} "
                f"ON {table} (id, {column})",
                f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(table)}",
            )
            for table, column in VERSIONED.items()
        ),
    ]
