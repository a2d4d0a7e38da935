"""No N+1: the number of SQL queries per request does not grow with plans or items."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plan_service import policy
from plan_service.participants.models import Family, Person
from plan_service.plans import services
from plan_service.plans.models import Comment, Goal, Membership, Plan
from tests import factories

pytestmark = pytest.mark.django_db


def count_queries(client, url: str) -> tuple[int, float]:
    client.get(url)  # warm per-process caches (content types, permissions)
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), elapsed


@pytest.fixture(autouse=True)
def every_chain_has_a_head():
    """The first row of an empty chain costs one more lookup; start every chain first."""
    from django.conf import settings

    from plan_service.audit.chain import choose_chain
    from plan_service.audit.context import RequestFacts, reset_request_facts, set_request_facts
    from plan_service.audit.services import record_access

    wanted = set(range(settings.AUDIT_CHAINS))
    n = 0
    while wanted:
        key = f"warm-{n}"
        n += 1
        if choose_chain(key) in wanted:
            wanted.discard(choose_chain(key))
            token = set_request_facts(RequestFacts(request_id=key))
            record_access(actor=None, action="search", subjects=[])
            reset_request_facts(token)


def make_plans(lead, n: int, strangers: int = 0) -> None:
    """n plans led by `lead` (and `strangers` led by someone else), created directly."""
    other = factories.professional()
    for i in range(n + strangers):
        owner = lead if i < n else other
        family = Family.objects.create(name=f"F{i}", created_by=owner.user)
        for kind in ("child", "child", "guardian"):
            Person.objects.create(
                family=family,
                kind=kind,
                given_name="x",
                family_name="y",
                identity_code=factories.identity_code(9),
            )
        plan = Plan.objects.create(family=family, status="active", created_by=owner.user)
        membership = Membership.objects.create(
            plan=plan,
            user=owner.user,
            professional=owner,
            role="lead",
            basis="statute",
            statute="LSL §30",
        )
        policy.grant_membership(membership)


def test_plan_list_queries_do_not_grow_with_plans(api):
    small, large = factories.professional(), factories.professional()
    make_plans(small, 2, strangers=18)
    make_plans(large, 20, strangers=20)
    q_small, _ = count_queries(api.as_user(small.user), "/api/v1/plans/")
    q_large, _ = count_queries(api.as_user(large.user), "/api/v1/plans/")
    assert q_small == q_large


def test_my_plans_in_200_of_1000_costs_what_2_of_20_does(api):
    few, many = factories.professional(), factories.professional()
    make_plans(few, 2, strangers=18)
    make_plans(many, 200, strangers=800)
    with connection.cursor() as cursor:  # production has autovacuum's statistics; so do we
        cursor.execute("ANALYZE")
    q_few, t_few = count_queries(api.as_user(few.user), "/api/v1/plans/?page_size=50")
    client = api.as_user(many.user)
    q_many, t_many = count_queries(client, "/api/v1/plans/?page_size=50")
    assert q_few == q_many
    print(
        f"my plans: {q_many} queries; 2 of 20: {t_few * 1000:.1f} ms, "
        f"200 of 1000: {t_many * 1000:.1f} ms"
    )


def _fill(plan, lead, n: int) -> None:
    for i in range(n):
        goal = services.item_create(
            actor=lead.user,
            plan_id=plan.pk,
            model=Goal,
            data={"category": "social", "title": f"g{i}", "desired_outcome": "o"},
        )
        services.item_create(
            actor=lead.user,
            plan_id=plan.pk,
            model=Comment,
            data={"target_type": "goal", "target_id": goal.pk, "text": "c"},
        )


@pytest.mark.parametrize("kind", ["goals", "comments", "actions", "reviews"])
def test_item_lists_and_plan_detail_do_not_grow_with_items(api, kind):
    lead = factories.professional()
    small, large = factories.plan(lead), factories.plan(lead)
    _fill(small, lead, 2)
    _fill(large, lead, 20)
    client = api.as_user(lead.user)
    for suffix in ("", f"{kind}/"):
        q_small, _ = count_queries(client, f"/api/v1/plans/{small.pk}/{suffix}")
        q_large, _ = count_queries(client, f"/api/v1/plans/{large.pk}/{suffix}")
        assert q_small == q_large, suffix


def test_family_and_member_lists_do_not_grow(api):
    lead = factories.professional()
    small = factories.plan(lead, factories.family(children=1, guardians=1))
    large = factories.plan(lead, factories.family(children=6, guardians=2))
    for _ in range(8):
        factories.add_member(large, lead, factories.professional("teacher"))
    client = api.as_user(lead.user)
    q1, _ = count_queries(client, f"/api/v1/plans/{small.pk}/members/")
    q2, _ = count_queries(client, f"/api/v1/plans/{large.pk}/members/")
    assert q1 == q2
    q1, _ = count_queries(client, f"/api/v1/families/{small.family_id}/")
    q2, _ = count_queries(client, f"/api/v1/families/{large.family_id}/")
    assert q1 == q2
