"""Which notice keys a recipient already has, found through an index.

Every write that tells anyone asks, for each recipient, which of the write's keys (a plan
version to sign, a consent about to end) they already have notices of, read or not
(`services._recipients`). Only the index on the recipient served it, so each write walked every
notice of every recipient it tells: 1,442 per recipient in the 1,000-family benchmark, about
2 ms per guardian's comment, growing with every notice a person ever got. A partial index on
(recipient, key) over keyed notices finds them directly. Built concurrently, so a deploy does
not block writes; a build interrupted earlier leaves an invalid index of that name, which is
dropped first.
"""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

NAME = "notification_recipient_key"


def drop_invalid(apps: object, schema_editor: object) -> None:
    """Drop what an interrupted build of this index left behind (`NOT indisvalid`)."""
    with schema_editor.connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname = %s",
            [NAME],
        )
        if cursor.fetchone():
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("notifications", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_invalid, migrations.RunPython.noop),
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(
                condition=~models.Q(dedup_key=""),
                fields=["recipient", "dedup_key"],
                name=NAME,
            ),
        ),
    ]
