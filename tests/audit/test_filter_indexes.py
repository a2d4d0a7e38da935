"""Every filter the log searches offer is served by an index: with sequential scans priced out,
the plan of each filtered query reaches the log table through an index, never a scan of the
whole log (which grows by every request). A filter added without its index fails here."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from plan_service.audit import chain
from plan_service.audit.filters import AccessLogFilter, DisclosureFilter
from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.plans.worklist import latest_read
from tests.harness.db_roles import owner_session

pytestmark = pytest.mark.django_db

#: A value each filter accepts.
SAMPLES = {
    "subject": str(uuid.uuid4()),
    "actor": "7",
    "organization": str(uuid.uuid4()),
    "plan": str(uuid.uuid4()),
    "action": AccessEvent.Action.READ,
    "outcome": AccessEvent.Outcome.DENIED,
    "request": "a-request-id",
    "since": "2026-01-01T00:00:00Z",
    "until": "2026-01-01T00:00:00Z",
    "recipient": "kanta",
}
CASES = [
    (filter_class, model, name)
    for filter_class, model in ((AccessLogFilter, AccessEvent), (DisclosureFilter, Disclosure))
    for name in filter_class.base_filters
]


@pytest.mark.parametrize(
    ("filter_class", "model", "name"), CASES, ids=[f"{m.__name__}-{n}" for _f, m, n in CASES]
)
def test_each_log_filter_reaches_the_log_through_an_index(filter_class, model, name):
    search = filter_class({name: SAMPLES[name]}, queryset=model.objects.all())
    assert search.is_valid(), search.errors
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    # Without the search's ordering: on a near-empty table the planner may walk the time index
    # for its order and filter each row, which says nothing about the filter's own index.
    plan = search.qs.order_by().explain()
    table = model._meta.db_table
    assert f"Seq Scan on {table}" not in plan, plan
    assert "Index Cond" in plan, plan  # an index searched by the filter, not read whole


def test_a_readers_latest_read_of_a_plan_is_found_through_its_index():
    """The start page's "new since my last visit" (plans.worklist.latest_read), per plan: the
    partial index on (actor, plan, time), not a walk of every row the actor ever caused.

    The reader has read 100 plans 10 times each, and the statistics are fresh: on a near-empty
    table whose statistics other tests left behind, the actor's time index walked backwards
    could cost the planner as little, and which one it chose varied from run to run."""
    actor, plans = 987_654, [uuid.uuid4() for _ in range(100)]
    reads = [
        {"action": "read", "object_type": "plan", "actor_user_id": actor, "plan_id": plan}
        for plan in plans * 10
    ]
    chain.append_values(AccessEvent, reads, key="latest-read")
    with owner_session(), connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_accessevent")  # sees this transaction's own rows
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = latest_read(actor, plans[0]).explain()
    assert "access_actor_plan_read" in plan, plan
    assert latest_read(actor, plans[0]).get()["recorded_at"] is not None
