"""Which keys a recipient already has is found through an index, not a walk of their notices.

Every write that tells anyone asks it for each recipient (`services._recipients`); a person
collects thousands of notices over the years. The statement runs prepared on the server, so
its generic plan is what counts: the partial index's condition must follow from the
statement's own text, not from the values it is run with."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from plan_service import prepared
from plan_service.notifications import services
from plan_service.notifications.models import Notification, Preference
from tests import factories
from tests.harness.db_roles import owner_session

pytestmark = pytest.mark.django_db


def _statement() -> str:
    """`_RECIPIENTS` as a statement PREPAREd with typed parameters $1 (users), $2 (keys)."""
    sql = services._RECIPIENTS.format(
        notification=Notification._meta.db_table,
        user=get_user_model()._meta.db_table,
        preference=Preference._meta.db_table,
    )
    return sql.replace("%(users)s", "$1").replace("%(keys)s", "$2")


def test_a_recipient_of_many_notices_is_asked_about_keys_through_the_index():
    people = [factories.user() for _ in range(3)]
    plan_id = uuid.uuid4()
    Notification.objects.bulk_create(
        Notification(recipient=person, kind="answer_to_my_comment", object_type="comment")
        for person in people
        for _ in range(400)
    )
    Notification.objects.bulk_create(
        Notification(
            recipient=person, kind="new_version", object_type="plan", dedup_key=f"sign:{i}"
        )
        for person in people
        for i in range(20)
    )
    with owner_session(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Notification._meta.db_table}")
    users, keys = [p.pk for p in people], [f"sign:{plan_id}", "sign:3"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE recipients(bigint[], text[]) AS {_statement()}")
        try:
            cursor.execute("EXPLAIN EXECUTE recipients(%s, %s)", [users, keys])
            explained = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("EXECUTE recipients(%s, %s)", [users, keys])
            answered = {row[0]: (row[3], row[4]) for row in cursor.fetchall()}
        finally:
            cursor.execute("DEALLOCATE recipients")
    # Each key lookup searches an index of keyed notices only (the partial ones), by recipient;
    # the 400 unkeyed notices per person are not walked.
    subplans = explained.split("SubPlan")[1:]
    assert len(subplans) == 2, explained
    assert "notification_recipient_key" in subplans[0], explained
    assert "notification_recipient_key" in subplans[1] or "notification_unread_once" in subplans[1]
    for subplan in subplans:
        assert "recipient_id = u.id" in subplan.split("Index Cond:")[1].splitlines()[0], explained
    assert answered == {pk: (["sign:3"], ["sign:3"]) for pk in users}


@pytest.mark.parametrize("on_plan", [True, False])
def test_a_threads_earlier_authors_are_asked_of_the_threads_index_alone(on_plan):
    """Every new comment tells the thread's earlier authors. The statement names no column
    outside the index of (plan, what it is about, the item, the author), so PostgreSQL can
    answer it from the index alone (an index-only scan: 0.97 -> 0.18 ms for a thread of 915
    comments on the benchmark county, vacuumed), and it answers each author once."""
    from plan_service.plans.models import Comment

    lead = factories.professional()
    plan = factories.plan(lead)
    authors = [lead.user, factories.user(), factories.user()]
    target = None if on_plan else uuid.uuid4()
    Comment.objects.bulk_create(
        Comment(
            plan=plan,
            category="general",
            target_type="plan" if on_plan else "goal",
            target_id=target,
            text=f"{n}",
            created_by=authors[n % 3],
            updated_by=authors[n % 3],
        )
        for n in range(30)
    )
    prepared._templates.clear()
    kind = "plan" if on_plan else "goal"
    assert services._earlier_authors(plan.pk, kind, target) == {a.pk for a in authors}
    assert services._earlier_authors(plan.pk, kind, uuid.uuid4()) == set()
    sql = prepared._templates[("earlier_authors", on_plan)].sql
    table = Comment._meta.db_table
    named = set(re.findall(rf'"{table}"\."(\w+)"', sql))
    index = next(i for i in Comment._meta.indexes if i.name == "comment_thread_authors")
    covered = {Comment._meta.get_field(name).column for name in index.fields}
    assert named, sql
    assert named <= covered, sql
