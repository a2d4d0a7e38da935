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
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords


class ActedFor(models.Model):
    """The child a guardian acted for when making the change (null: acted as themselves)."""

    history_on_behalf_of = models.UUIDField(_("on behalf of"), null=True, blank=True)

    class Meta:
        abstract = True


class _Managers(HistoryManager):
    """django-simple-history's manager, its class built once per queryset class.

    The library's descriptor (`model.history`, also read by every save that writes a
    historical row) builds a new manager class on every access, with `Manager.from_queryset`,
    which inspects every method of the queryset class: about 0.3 ms each time, twice per item
    write. The class it builds depends only on the manager class, the queryset class and the
    name, so it is kept.
    """

    _built: dict[tuple[type, type, str | None], type] = {}

    @classmethod
    def from_queryset(cls, queryset_class: type, class_name: str | None = None) -> type:
        key = (cls, queryset_class, class_name)
        built = cls._built.get(key)
        if built is None:
            built = cls._built.setdefault(key, super().from_queryset(queryset_class, class_name))
        return built


def records(*, bases: list[type[models.Model]] | None = None, **kwargs: Any) -> HistoricalRecords:
    """`HistoricalRecords` whose rows also say on whose behalf the change was made."""
    return HistoricalRecords(bases=[*(bases or []), ActedFor], history_manager=_Managers, **kwargs)
