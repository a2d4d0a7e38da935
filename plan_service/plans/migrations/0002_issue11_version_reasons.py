# Issue 11: structured reasons. The plan's historical rows keep the reason code in
# history_change_reason and the writer's own words in the new change_note column.

from django.db import migrations, models

# Earlier free-text defaults -> codes; anything else was a client's words (code "other").
FORWARD = """
UPDATE plans_historicalplan SET
  change_note = CASE
    WHEN history_change_reason IN ('plan created', 'plan updated', 'item changed',
        'team changed', 'restriction changed')
      OR history_change_reason ~ '^(need|goal|action|review|comment|dissent) (added|changed|removed)$'
      OR history_change_reason ~ '^restored version [0-9]+$'
    THEN '' ELSE history_change_reason END,
  history_change_reason = CASE
    WHEN history_change_reason = 'plan created' THEN 'plan_created'
    WHEN history_change_reason = 'plan updated' THEN 'plan_changed'
    WHEN history_change_reason = 'team changed' THEN 'team_changed'
    WHEN history_change_reason = 'restriction changed' THEN 'audience_changed'
    WHEN history_change_reason = 'item changed' THEN 'item_changed'
    WHEN history_change_reason ~ ' added$' THEN 'item_added'
    WHEN history_change_reason ~ ' changed$' THEN 'item_changed'
    WHEN history_change_reason ~ ' removed$' THEN 'item_removed'
    WHEN history_change_reason ~ '^restored version [0-9]+$' THEN 'item_restored'
    ELSE 'other' END
WHERE history_change_reason IS NOT NULL AND history_change_reason <> ''
  AND history_change_reason NOT IN ('plan_created', 'plan_changed', 'team_changed',
    'item_added', 'item_changed', 'item_removed', 'item_restored', 'audience_changed',
    'review_meeting', 'correction', 'new_information', 'family_request', 'other')
"""


class Migration(migrations.Migration):

    dependencies = [
        ('plans', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalplan',
            name='change_note',
            field=models.TextField(blank=True, default='', verbose_name="reason in the writer's words"),
        ),
        migrations.RunSQL(FORWARD, migrations.RunSQL.noop),
    ]
