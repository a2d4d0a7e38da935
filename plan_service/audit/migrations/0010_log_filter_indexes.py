"""Indexes for every filter of the log searches (tests/audit/test_filter_indexes.py): the
access log's outcome, the disclosure log's actor and organisation, and its recipient substring
search (a trigram index; pg_trgm is a trusted extension, which the database owner may
create)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_access_request_index"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddIndex(
            model_name="accessevent",
            index=models.Index(fields=["outcome", "recorded_at"], name="access_outcome_time"),
        ),
        migrations.AddIndex(
            model_name="disclosure",
            index=models.Index(
                fields=["actor_user_id", "recorded_at"], name="disclosure_actor_time"
            ),
        ),
        migrations.AddIndex(
            model_name="disclosure",
            index=models.Index(
                fields=["actor_organization_id", "recorded_at"], name="disclosure_org_time"
            ),
        ),
        migrations.AddIndex(
            model_name="disclosure",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("recipient"), name="gin_trgm_ops"
                ),
                name="disclosure_recipient_trgm",
            ),
        ),
    ]
