"""Indexes built concurrently by a migration, and what an interrupted build leaves behind
(`plan_service.concurrent_indexes`)."""

from __future__ import annotations

import pytest
from django.db import connection

from plan_service.concurrent_indexes import drop_invalid
from plan_service.notifications.models import Notification
from plan_service.plans.models import Comment
from tests.harness.db_roles import in_own_connection, index_valid, superuser_owner

pytestmark = pytest.mark.django_db

#: The indexes the migrations build this way with the helper, by model.
BUILT = {"notification_recipient_key": Notification, "comment_thread_authors": Comment}


def test_every_index_the_models_declare_is_built_and_valid():
    with connection.cursor() as cursor:
        assert {name: index_valid(cursor, name) for name in BUILT} == dict.fromkeys(BUILT, True)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_migrating_again_rebuilds_an_index_an_interrupted_build_left_invalid(name):
    """The operation drops the named index only when it is invalid, and the index is then
    built again, valid. (On a connection of its own in autocommit, as a migration runs, as the
    owner; marking an index invalid takes a superuser, which the test database's owner is
    here.)"""
    model = BUILT[name]
    index = next(i for i in model._meta.indexes if i.name == name)
    operation = drop_invalid([name, "no_such_index"])
    editor = type("Editor", (), {"connection": connection})()

    def interrupt_then_migrate_again() -> list[bool | None]:
        with connection.cursor() as cursor:
            if not superuser_owner(cursor):
                return []
            seen = [index_valid(cursor, name)]
            operation.code(None, editor)  # a valid index stays
            seen.append(index_valid(cursor, name))
            cursor.execute(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [name]
            )
            seen.append(index_valid(cursor, name))
            operation.code(None, editor)
            seen.append(index_valid(cursor, name))
            with connection.schema_editor(atomic=False) as schema:
                schema.add_index(model, index, concurrently=True)
            seen.append(index_valid(cursor, name))
            return seen

    seen = in_own_connection(interrupt_then_migrate_again)
    if not seen:
        pytest.skip("marking an index invalid takes a superuser connection")
    assert seen == [True, True, False, None, True]
