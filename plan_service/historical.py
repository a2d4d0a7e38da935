"""Change history (django-simple-history) as every model of ours keeps it.

Each historical row records who made the change (`history_user`), why (`history_change_reason`)
and, when a guardian acted for their child, on whose behalf (`history_on_behalf_of`, issue 18):
`records()` declares the history of a model with that column; the registry, which knows whom a
guardian acts for, fills it in (`participants.acting.stamp_on_behalf_of`).

`save()` writes a row and its history row in one statement, for the writes people make most
(a plan item and its plan's new version); every other save goes through the library's signal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import signals
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from plan_service import prepared


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
    return _Records(bases=[*(bases or []), ActedFor], history_manager=_Managers, **kwargs)


class _Records(HistoricalRecords):
    """`HistoricalRecords` that remembers which model it keeps the history of (for `save`)."""

    def finalize(self, sender: type[models.Model], **kwargs: Any) -> None:
        super().finalize(sender, **kwargs)
        if sender is self.cls and not sender._meta.abstract:
            _RECORDS[sender] = self


_RECORDS: dict[type[models.Model], _Records] = {}


def save(instance: models.Model, *, update_fields: Sequence[str] | None = None) -> None:
    """`instance.save(update_fields=...)` and its historical row, in one statement.

    What Django's save and django-simple-history's `post_save` do for a model of ours, but
    sent as one statement compiled once per model and columns (`_statement`): the row's
    `INSERT` or `UPDATE`, and the `INSERT` of its history row only if that touched a row (an
    `UPDATE` that finds no row raises; the callers hold the row locked). The history row is
    built from the instance as the library builds it, and the signals are sent in the order a
    `save()` sends them (`pre_save`, `pre_create_historical_record`, the history row's own
    `pre_save` and `post_save`, `post_create_historical_record`, then `post_save`), so their
    receivers (who acted for whom, the plan's change note, the versions this transaction
    wrote) see the same. For the writes people make most (every new plan version, an item's
    create and update), where the ORM's two statements cost ~0.8 ms per save in Python and
    round trips.

    Anything this does not do as the library does goes to `Model.save` instead (`_plain_save`):
    the library's switches for a save without history, history of many-to-many fields or
    with its own relation or database, a model that overrides `save`, parents, deferred
    fields, a primary key the database assigns.
    """
    model = type(instance)
    records = _RECORDS[model]
    meta = model._meta
    if update_fields is not None:
        update_fields = frozenset(update_fields)
        unknown = update_fields - meta._non_pk_concrete_field_names
        if unknown:
            raise ValueError(f"{meta.label} has no field {', '.join(sorted(unknown))} to update")
        if not update_fields:
            return  # as Model.save: nothing to save, nothing sent
    if _plain_save(instance, records):
        instance.save(update_fields=update_fields)
        return
    instance._prepare_related_fields_for_save(operation_name="save")
    adding = instance._state.adding
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    signals.pre_save.send(
        sender=model, instance=instance, raw=False, using=using, update_fields=update_fields
    )
    fields = [
        f
        for f in meta.local_concrete_fields
        if adding
        or (
            not f.primary_key
            and (update_fields is None or f.name in update_fields or f.attname in update_fields)
        )
    ]
    values = [f.get_db_prep_save(f.pre_save(instance, adding), connection) for f in fields]
    # What the library hands its signals and its change reason as the database: None unless
    # the history lives in the base model's database.
    history_using = using if records.use_base_model_db else None
    history_instance, sent = _history_record(
        records, instance, "+" if adding else "~", history_using
    )
    # The history row's own save signals, as its save() sends them; its values are taken after
    # its pre_save, as its save() takes them.
    history_model = type(history_instance)
    signals.pre_save.send(
        sender=history_model, instance=history_instance, raw=False, using=using, update_fields=None
    )
    history_values = [
        f.get_db_prep_save(f.pre_save(history_instance, True), connection)
        for f in _history_fields(history_model)
    ]
    sql = _statement(model, adding, tuple(f.attname for f in fields), using)
    params = [*values] if adding else [*values, meta.pk.get_db_prep_value(instance.pk, connection)]
    with (
        transaction.mark_for_rollback_on_error(using),
        prepared.server_cursor(using) as cursor,
    ):
        cursor.execute(sql, [*params, *history_values])
        row = cursor.fetchone()
    if row is None:
        raise DatabaseError(f"{meta.label} {instance.pk}: the save did not affect any row.")
    history_instance.history_id = row[0]
    for state in (instance._state, history_instance._state):
        state.adding = False
        state.db = using
    _post_save(history_instance, created=True, update_fields=None, using=using)
    post_create_historical_record.send(
        sender=type(history_instance),
        instance=instance,
        history_instance=history_instance,
        using=history_using,
        **sent,
    )
    # Django's post_save receivers run; django-simple-history's, which would write the history
    # row a second time, skips an instance so marked (its documented switch). A receiver that
    # saved this instance again meanwhile would write no history row: none does.
    instance.skip_history_when_saving = True  # type: ignore[attr-defined]
    try:
        _post_save(instance, created=adding, update_fields=update_fields, using=using)
    finally:
        del instance.skip_history_when_saving  # type: ignore[attr-defined]


def _post_save(
    instance: models.Model, *, created: bool, update_fields: frozenset[str] | None, using: str
) -> None:
    """`post_save` as `Model.save` sends it."""
    signals.post_save.send(
        sender=type(instance),
        instance=instance,
        created=created,
        update_fields=update_fields,
        raw=False,
        using=using,
    )


def _plain_save(instance: models.Model, records: HistoricalRecords) -> bool:
    """Whether `save` leaves this save to `Model.save` (its docstring says why)."""
    model = type(instance)
    history_pk = getattr(model, records.manager_name).model._meta.pk
    return bool(
        hasattr(instance, "skip_history_when_saving")
        or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
        or records.m2m_fields
        or records.related_name
        or records.use_base_model_db
        or model.save is not models.Model.save
        or model._meta.parents
        or instance.get_deferred_fields()
        or instance.pk is None
        or model._meta.pk.db_returning  # the database assigns it
        or not history_pk.db_returning  # the statement leaves the history id to the database
    )


def _history_record(
    records: HistoricalRecords, instance: models.Model, history_type: str, using: str | None
) -> tuple[models.Model, dict[str, Any]]:
    """The history row django-simple-history's `create_historical_record` would save, and
    what its signals are sent (`pre_create_historical_record` sent here)."""
    history_date = getattr(instance, "_history_date", timezone.now())
    history_user = records.get_history_user(instance)
    history_change_reason = records.get_change_reason_for_object(instance, history_type, using)
    history_model = getattr(instance, records.manager_name).model
    attrs = {f.attname: getattr(instance, f.attname) for f in records.fields_included(instance)}
    history_instance = history_model(
        history_date=history_date,
        history_type=history_type,
        history_user=history_user,
        history_change_reason=history_change_reason,
        **attrs,
    )
    sent = {
        "history_date": history_date,
        "history_user": history_user,
        "history_change_reason": history_change_reason,
    }
    pre_create_historical_record.send(
        sender=history_model,
        instance=instance,
        history_instance=history_instance,
        using=using,
        **sent,
    )
    return history_instance, sent


def _history_fields(history_model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The history row's columns the statement sends (its id is the database's)."""
    return [f for f in history_model._meta.concrete_fields if not f.primary_key]


def _cast(field: models.Field[Any, Any], connection: Any) -> str:
    """The type a history value is cast to in the statement's SELECT list: the field's own
    without a length (`varchar`, not `varchar(20)`), so the INSERT refuses a value too long for
    its column, as it does a value it is given directly, instead of the cast cutting it."""
    return re.sub(r"\(\d+(,\s*\d+)?\)", "", field.cast_db_type(connection))


@functools.cache
def _statement(
    model: type[models.Model], adding: bool, columns: tuple[str, ...], using: str
) -> str:
    """The row's INSERT or UPDATE (of `columns`, by attribute name) and its history row's
    INSERT, which runs only when the first touched a row; answers the history row's id.
    Names come from the models (quoted), every value is a parameter."""
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    by_attname = {f.attname: f for f in meta.local_concrete_fields}
    history_model = getattr(model, _RECORDS[model].manager_name).model
    history_fields = _history_fields(history_model)
    table = quote(meta.db_table)
    if adding:
        names = ", ".join(quote(by_attname[c].column) for c in columns)
        marks = ", ".join("%s" for _ in columns)
        change = f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING 1"  # noqa: S608
    else:
        sets = ", ".join(f"{quote(by_attname[c].column)} = %s" for c in columns)
        change = f"UPDATE {table} SET {sets} WHERE {quote(meta.pk.column)} = %s RETURNING 1"  # noqa: S608
    # In the SELECT list a parameter has no column to take its type from: each is cast (`_cast`).
    history_names = ", ".join(quote(f.column) for f in history_fields)
    typed = ", ".join(f"%s::{_cast(f, connection)}" for f in history_fields)
    history_pk = quote(history_model._meta.pk.column)
    return (
        f"WITH changed AS ({change}) "  # noqa: S608
        f"INSERT INTO {quote(history_model._meta.db_table)} ({history_names}) "
        f"SELECT {typed} FROM changed RETURNING {history_pk}"
    )
