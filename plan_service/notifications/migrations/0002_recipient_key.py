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

from plan_service.concurrent_indexes import drop_invalid

NAME = "notification_recipient_key"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("notifications", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_invalid([NAME]),
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(
                condition=~models.Q(dedup_key=""),
                fields=["recipient", "dedup_key"],
                name=NAME,
            ),
        ),
    ]
