"""psycopg's own C loader for `timestamptz` columns, where it gives exactly Django's values.

Django loads every `timestamptz` through its `BaseTzLoader`, a Python subclass of psycopg's
pure-Python loader that parses the text with a regular expression and then replaces the
`tzinfo` (`django/db/backends/postgresql/psycopg_any.py`). psycopg's C loader (from
`psycopg[binary]`) is never used: its class cannot be subclassed. A plan's Bundle or document
reads about seventy timestamps; in the bulk export that Python parsing was a tenth of the
exporting process's time (Django ticket #36960 and psycopg issue #1273 describe the cost).

When the session's time zone is UTC (Django sets it so with `USE_TZ` and no per-database
`TIME_ZONE`), psycopg's C loader returns the same `datetime` with `datetime.timezone.utc`,
which is what Django's loader gives. `use_c_loader` (a `connection_created` receiver) then
registers `UtcTimestamptzLoader` on the new connection: a loader whose `load` *is* the C
loader's bound method, so no Python frame runs per value. Any other session time zone keeps
Django's loader. The C loader follows the session's zone as it is when a result arrives; nothing
in the service changes it after connecting. (After a `SET TIME ZONE` the C loader would give the
right instants in that zone; Django's, which replaces the `tzinfo`, would shift them.)
`tests/test_db_loaders.py` compares the two loaders on the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg import adapt, adapters, postgres
from psycopg.pq import Format

_OID = postgres.types["timestamptz"].oid
#: The loader psycopg registers globally: its C implementation when psycopg[binary] is present
#: (asked through the public `adapters.get_loader`, not the private `_get_optimised` that
#: psycopg issue #1273 works around with); the pure-Python one otherwise, equally correct.
_C_LOADER = adapters.get_loader(_OID, Format.TEXT)


class UtcTimestamptzLoader(adapt.Loader):
    """Loads `timestamptz` text as an aware UTC `datetime` with psycopg's fastest loader."""

    #: Django's `create_cursor` compares this with the connection's time zone and registers
    #: its own loader on the cursor when they differ.
    timezone = dt.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        # The C loader reads the session's time zone from the connection (UTC, see
        # `use_c_loader`); its bound method replaces `load` on this instance.
        self.load = _C_LOADER(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> dt.datetime:  # replaced per instance in __init__
        raise NotImplementedError


def use_c_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On a new PostgreSQL connection whose session time zone is UTC, load `timestamptz` with
    `UtcTimestamptzLoader` (values identical to Django's loader, parsed in C)."""
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    if connection.timezone_name != "UTC":
        return
    connection.connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
