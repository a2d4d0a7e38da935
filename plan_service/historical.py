"""Change history (django-simple-history) as every model of ours keeps it.

Each historical row records who made the change (`history_user`), why (`history_change_reason`)
and, when a guardian acted for their child, on whose behalf (`history_on_behalf_of`, issue 18):
`records()` declares the history of a model with that column; the registry, which knows whom a
guardian acts for, fills it in (`participants.acting.stamp_on_behalf_of`).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class ActedFor(models.Model):
    """The child a guardian acted for when making the change (null: acted as themselves)."""

    history_on_behalf_of = models.UUIDField(_("on behalf of"), null=True, blank=True)

    class Meta:
        abstract = True


def records(*, bases: list[type[models.Model]] | None = None, **kwargs: Any) -> HistoricalRecords:
    """`HistoricalRecords` whose rows also say on whose behalf the change was made."""
    return HistoricalRecords(bases=[*(bases or []), ActedFor], **kwargs)
