"""Renderings of the plan made before this release name, to families, professionals who must
not be named to them (`hide_name_from_family`): advance the names epoch, so every stored
rendering is made again on its next read (plans/document.py)."""

from django.db import migrations

BUMP = """
INSERT INTO plans_documentepoch (id, epoch) VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET epoch = plans_documentepoch.epoch + 1;
"""


class Migration(migrations.Migration):
    dependencies = [("plans", "0004_history_on_behalf_of")]

    operations = [migrations.RunSQL(BUMP, reverse_sql=migrations.RunSQL.noop)]
