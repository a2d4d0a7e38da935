"""Who wrote in a comment thread, read from an index.

Every new comment tells the thread's earlier authors (`notifications.services._earlier_authors`):
their ids, each once. Only the plan's index served it, so each comment read every comment of
its plan from the table: about 1 ms for a thread of 900 comments, growing with the thread. An
index on (plan, what it is about, the item, the author) answers it from the index alone. Built
concurrently (writes go on meanwhile); an interrupted build's invalid index is dropped first.
"""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from plan_service.concurrent_indexes import drop_invalid

NAME = "comment_thread_authors"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("plans", "0008_history_by_version"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_invalid([NAME]),
        AddIndexConcurrently(
            model_name="comment",
            index=models.Index(
                fields=["plan", "target_type", "target_id", "created_by"], name=NAME
            ),
        ),
    ]
