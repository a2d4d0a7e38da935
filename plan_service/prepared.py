"""ORM statements compiled once per process and run again with new values.

On the hot paths (deciding a reader's access, authenticating a token) building and compiling
the ORM statement cost more than running it: the access statement, with its five subqueries,
took about 10 ms of Python per request against 1-2 ms in PostgreSQL. The rules stay written
once, as querysets and Q objects; this module only compiles such a queryset the first time a
shape is asked for, with *placeholder values* standing for the values that change between
calls (a plan, a user, the time), and afterwards sends the same SQL with the real values in the
placeholders' positions.

A placeholder is a value no real call uses (`Slot.uuid(n)`, a negative id, a version of two
billion, a date in 1901, a string with a NUL in it), so its positions among the compiled
parameters are unambiguous. Each slot must appear at least once after compiling, or building
the template fails; a slot whose value changes the *shape* of the statement (None, which
compiles to IS NULL, or an empty string a rule tests for) belongs in the cache key, not in a
slot. Rows come back as dicts, with Django's own converters applied, exactly as `.values()`
gives them; `tests/test_prepared.py` compares the two.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model, QuerySet
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

_EPOCH = dt.datetime(1901, 1, 1, tzinfo=dt.UTC)


class Slot:
    """Placeholder values, one distinct value per slot number and type."""

    @staticmethod
    def uuid(n: int) -> uuid.UUID:
        return uuid.UUID(int=(0x5107 << 112) + n)

    @staticmethod
    def integer(n: int) -> int:
        # Negative, yet inside a 32-bit column's range: Django compiles a lookup on a value
        # outside the column's range to "matches nothing", with no parameter to fill.
        return -2_000_000_000 + n

    @staticmethod
    def positive(n: int) -> int:
        # For a positive integer column (a version): a negative value is outside its range.
        return 2_000_000_000 + n

    @staticmethod
    def moment(n: int) -> dt.datetime:
        return _EPOCH + dt.timedelta(microseconds=n + 1)

    @staticmethod
    def day(n: int) -> dt.date:
        return dt.date(1901, 1, 1) + dt.timedelta(days=n + 1)

    @staticmethod
    def text(n: int) -> str:
        return f"\x00slot:{n}"


@dataclass(frozen=True)
class _Template:
    using: str
    sql: str
    params: tuple[Any, ...]
    #: For each parameter, the slot name it is filled from, or None to send it as compiled.
    slots: tuple[str | None, ...]
    names: tuple[str, ...]
    compiler: Any
    converters: dict[int, Any]
    #: FOR UPDATE: Django refuses it outside a transaction when it compiles the statement,
    #: which a template does only once; `rows` refuses it on every run.
    locks: bool


_templates: dict[Hashable, _Template] = {}
_lock = threading.Lock()


def _compile(build: Callable[..., QuerySet[Any]], placeholders: dict[str, Any]) -> _Template:
    queryset = build(**placeholders)
    query = queryset.query
    if query.selected:
        names = tuple(query.selected)
    else:
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
    if not names:
        raise ValueError("a prepared statement must be a .values() queryset")
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    by_value = {value: name for name, value in placeholders.items()}
    if len(by_value) != len(placeholders):
        raise ValueError("two slots share a placeholder value")
    slots = tuple(by_value.get(p) if isinstance(p, Hashable) else None for p in params)
    missing = set(placeholders) - set(filter(None, slots))
    if missing:
        raise ValueError(f"slots not found in the compiled statement: {sorted(missing)}")
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    return _Template(
        using=queryset.db,
        sql=sql,
        params=tuple(params),
        slots=slots,
        names=names,
        compiler=compiler,
        converters=compiler.get_converters(fields),
        locks=bool(query.select_for_update),
    )


def rows(
    key: Hashable,
    build: Callable[..., QuerySet[Any]],
    placeholders: dict[str, Any],
    values: dict[str, Any],
) -> list[dict[str, Any]]:
    """Run `build(**values)` (a `.values()` queryset) as its template compiled under `key`.

    `build` is called only the first time `key` is seen in this process, with `placeholders`
    (one `Slot` value per name in `values`); `key` must determine the statement's shape.
    """
    template = _templates.get(key)
    if template is None:
        with _lock:
            template = _templates.get(key) or _compile(build, placeholders)
            _templates[key] = template
    if template.locks and connections[template.using].get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    params = [
        p if slot is None else values[slot]
        for p, slot in zip(template.params, template.slots, strict=True)
    ]
    with server_cursor(template.using) as cursor:
        cursor.execute(template.sql, params)
        fetched = cursor.fetchall()
    if template.converters:
        fetched = list(template.compiler.apply_converters(fetched, template.converters))
    return [dict(zip(template.names, row, strict=True)) for row in fetched]


def server_cursor(using: str = DEFAULT_DB_ALIAS) -> Any:
    """A Django cursor (query logging, error wrapping) over a psycopg cursor that binds its
    parameters on the server.

    psycopg prepares a statement such a cursor has run `prepare_threshold` times on a
    connection (5 by default; `DATABASE_PREPARE_THRESHOLD`), and PostgreSQL then plans it
    once instead of on every run: the access statement took 3.7 ms to plan and 0.8 ms to run.
    The templates here and the service's other hot statements use it (docs/operations.md
    lists them); the rest of the ORM keeps Django's client-side binding.
    """
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    if connection.queries_logged:  # DEBUG, or a test capturing queries
        connection.validate_thread_sharing()
        return _LoggedServerCursor(cursor, connection)
    return connection._prepare_cursor(cursor)


class _LoggedServerCursor(CursorDebugWrapper):
    """Query logging for a server-binding cursor. Django logs the text psycopg says it sent,
    and psycopg keeps none for a run of a statement it has prepared: such runs were logged as
    `None`. They are logged as the statement written here (`%s` placeholders, no values)."""

    def execute(self, sql: str, params: Any = None) -> Any:
        with self.debug_sql(sql, params, use_last_executed_query=False):
            return CursorWrapper.execute(self, sql, params)


def columns(model: type[Model], prefix: str = "") -> list[str]:
    """Every concrete column of `model`, as `.values()` names under `prefix` (a relation path)."""
    return [prefix + f.attname for f in model._meta.concrete_fields]


def instance(
    model: type[M], row: dict[str, Any], prefix: str = "", using: str = DEFAULT_DB_ALIAS
) -> M | None:
    """The `model` row under `prefix` in a values row (`columns`), loaded as the ORM loads it;
    None when its primary key is null (a left join that found nothing)."""
    names = [f.attname for f in model._meta.concrete_fields]
    if row[prefix + model._meta.pk.attname] is None:
        return None
    return model.from_db(using, names, [row[prefix + n] for n in names])
