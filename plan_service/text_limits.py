"""The longest text each free-text field accepts (documented in docs/api-limits.md).

Longer input is refused with 400 naming the field: the model field's `max_length` becomes the
serializer's limit. Limits are in characters; arrays are limited in their number of entries.
"""

from __future__ import annotations

from django.contrib.postgres.validators import ArrayMaxLengthValidator

#: Descriptions, the plan's summary, comments and dissents.
LONG_TEXT = 10_000
#: A goal's desired outcome and evidence, an action, an acknowledgement's comment.
SHORT_TEXT = 4_000
#: A review meeting's notes.
NOTES_TEXT = 20_000
#: Children an item concerns; people who took part in a review; progress entries of a review.
MAX_CONCERNS = 50
MAX_PARTICIPANTS = 50
MAX_PROGRESS = 100
#: A writer's own words on why they made a change (`X-Change-Reason`, the pages' reason field).
REASON_CHARS = 500


def array_max_length(limit: int) -> ArrayMaxLengthValidator:
    """A validator refusing arrays of more than `limit` entries (kept in migrations by value)."""
    return ArrayMaxLengthValidator(limit)
