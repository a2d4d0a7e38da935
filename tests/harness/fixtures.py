"""A world built once per test module, each test rolled back to it (nested transactions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from tests.harness.world import World, build_world


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[World]:
    """Build the world inside a transaction that is never committed; tests nest in it."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
