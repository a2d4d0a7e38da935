"""History rows found by their object and version, not by a walk of the object's history.

Every write of an item answers with the item as the writer sees it, continuing a kept replay
(plans/visibility.py): it reads the item's history rows after a plan version
(`_ItemReplay._rows_since`) and checks that the plan's history still holds the version the
replay was kept at (`_kept`). Both were served by django-simple-history's index on the object
id alone, so each read every history row of the item or plan and filtered them: 7 ms for a goal
changed 7,000 times, 24 ms (cold) for a plan of 7,500 versions. An index on (id, version) per
history table finds them directly. Built concurrently, so a deploy does not block writes.
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


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("plans", "0007_reader_versions"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {table}_id_{column} "
            f"ON {table} (id, {column})",
            f"DROP INDEX CONCURRENTLY IF EXISTS {table}_id_{column}",
        )
        for table, column in VERSIONED.items()
    ]
