"""Test programme rows B and D: another family's ids anywhere in a request leak nothing, and
fields a client may not set are refused.

The sweep signs in as each member of family A's plan and puts family B's ids in paths, bodies
and filters. Every answer must be a refusal (400 naming the field, or 404 with the same body as
a missing id) or an empty result, and no answer may contain any of family B's ids.
"""

from __future__ import annotations

import uuid

import pytest

from plan_service.participants.models import Person
from plan_service.plans.models import Acknowledgement, Goal, Need
from tests.harness.fixtures import world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

MEMBERS = ("lead", "health", "curator", "guardian", "child")


def b_ids(w) -> set[str]:
    side = w.sides["other"]
    ids = {
        str(side.plan.pk),
        str(side.family_id),
        str(side.consent_id),
        str(side.member_id),
        str(side.ack_id),
    }
    ids |= {str(item.pk) for item in side.items.values()}
    ids |= {str(p.pk) for p in Person.objects.filter(family_id=side.family_id)}
    return ids


def sweep_cases(w):
    a, b = w.sides["own"], w.sides["other"]
    pa = f"/api/v1/plans/{a.plan.pk}"
    b_goal, b_need = b.items[("goals", "general")], b.items[("needs", "general")]
    b_person = Person.objects.filter(family_id=b.family_id, kind="guardian").first()
    b_child = Person.objects.filter(family_id=b.family_id, kind="child").first()
    b_lead_user = b.plan.memberships.get(role="lead").user_id
    cases = []
    # Paths: family A's plan with family B's item ids.
    for kind in ("needs", "goals", "actions", "reviews", "comments", "dissents"):
        item = b.items[(kind, "general")]
        for method in ("GET", "PATCH", "DELETE"):
            cases.append((method, f"{pa}/{kind}/{item.pk}/", {"text": "x"}, "path"))
    cases.append(("GET", f"{pa}/acknowledgements/{b.ack_id}/", None, "path"))
    cases.append(("DELETE", f"{pa}/members/{b.member_id}/", None, "path"))
    cases.append(("GET", f"/api/v1/families/{b.family_id}/", None, "path"))
    cases.append(("GET", f"/api/v1/consents/{b.consent_id}/", None, "path"))
    cases.append(("POST", f"/api/v1/consents/{b.consent_id}/withdraw/", {}, "path"))
    cases.append(("GET", f"{pa}/explain/?member={b.member_id}", None, "filter"))
    # Bodies: family B's ids as references.
    general = {"category": "general"}
    cases += [
        (
            "POST",
            f"{pa}/goals/",
            {**general, "title": "t", "desired_outcome": "o", "need": str(b_need.pk)},
            "need",
        ),
        (
            "POST",
            f"{pa}/actions/",
            {
                **general,
                "description": "d",
                "goal": str(b_goal.pk),
                "responsible_kind": "organization",
                "responsible_organization": str(w.organization_id),
            },
            "goal",
        ),
        (
            "POST",
            f"{pa}/actions/",
            {
                **general,
                "description": "d",
                "responsible_kind": "guardian",
                "responsible_person": str(b_person.pk),
            },
            "responsible_person",
        ),
        (
            "POST",
            f"{pa}/actions/",
            {
                **general,
                "description": "d",
                "responsible_kind": "member",
                "responsible_user": b_lead_user,
            },
            "responsible_user",
        ),
        (
            "POST",
            f"{pa}/reviews/",
            {
                **general,
                "held_on": "2026-01-01",
                "progress": [{"goal": str(b_goal.pk), "note": "n"}],
            },
            "progress.0.goal",
        ),
        (
            "POST",
            f"{pa}/needs/",
            {**general, "title": "t", "concerns": [str(b_child.pk)]},
            "concerns",
        ),
        (
            "POST",
            f"{pa}/comments/",
            {"target_type": "goal", "target_id": str(b_goal.pk), "text": "x"},
            "target_id",
        ),
        (
            "POST",
            f"{pa}/dissents/",
            {"target_type": "need", "target_id": str(b_need.pk), "text": "x"},
            "target_id",
        ),
        (
            "POST",
            f"{pa}/members/",
            {"professional": str(w.joiner.pk), "basis": "consent", "consent": str(b.consent_id)},
            "consent",
        ),
        ("POST", "/api/v1/plans/", {"family": str(b.family_id), "statute": "x"}, "family"),
        (
            "POST",
            "/api/v1/consents/",
            {
                "family": str(b.family_id),
                "subjects": [str(b_child.pk)],
                "categories": ["general"],
                "purpose": "p",
                "recipient_sector": "health",
            },
            "family",
        ),
        (
            "POST",
            "/api/v1/consents/",
            {
                "family": str(a.family_id),
                "subjects": [str(b_child.pk)],
                "grantor": str(w.guardian_person.pk),
                "method_detail": "m",
                "categories": ["general"],
                "purpose": "p",
                "recipient_sector": "health",
            },
            "subjects|family",
        ),
    ]
    # Filters: family B's ids as filter values must give empty lists.
    cases += [
        ("GET", f"{pa}/goals/?need={b_need.pk}", None, "empty"),
        ("GET", f"{pa}/actions/?goal={b_goal.pk}", None, "empty"),
        ("GET", f"{pa}/comments/?target_id={b_goal.pk}", None, "empty"),
        ("GET", f"/api/v1/plans/?family={b.family_id}", None, "empty"),
        ("GET", f"/api/v1/consents/?family={b.family_id}", None, "empty"),
    ]
    return cases


def test_idor_sweep_leaks_nothing(api, world):  # noqa: F811
    leaks, failures, total = [], [], 0
    secret = b_ids(world)
    for role in MEMBERS:
        client = api.as_user(world.user(role))
        for method, url, body, expect in sweep_cases(world):
            total += 1
            headers = {"HTTP_IF_MATCH": 'W/"1"'} if method in ("PATCH", "DELETE") else {}
            r = client.request(method, url, body if method != "GET" else None, **headers)
            text = r.content.decode()
            if any(i in text for i in secret):
                leaks.append((role, method, url, text[:200]))
            if expect == "path":
                # Exactly what a never-existing id gets (404, or 403 decided before any lookup).
                missing_url = url
                for i in secret:
                    missing_url = missing_url.replace(i, str(uuid.uuid4()))
                twin = client.request(
                    method, missing_url, body if method != "GET" else None, **headers
                )
                ok = (r.status_code, r.content) == (twin.status_code, twin.content) and (
                    r.status_code in (403, 404)
                )
            elif expect == "empty":
                ok = r.status_code == 200 and r.json()["count"] == 0
            elif expect == "filter":
                ok = r.status_code in (400, 403, 404)
            else:  # a body field: refused, naming the field, or not even allowed to try
                named = {e["field"] for e in r.json()["errors"]} if r.status_code == 400 else set()
                ok = r.status_code == 403 or bool(named & set(expect.split("|")))
            if not ok:
                failures.append((role, method, url, r.status_code, text[:200]))
    print(f"IDOR sweep: {total} requests, {len(leaks)} leaks")
    assert leaks == []
    assert failures == []


def test_hidden_and_missing_ids_answer_alike(api, world):  # noqa: F811
    client = api.as_user(world.user("curator"))
    a = world.sides["own"]
    hidden = a.items[("goals", "social")]
    r_hidden = client.get(f"/api/v1/plans/{a.plan.pk}/goals/{hidden.pk}/")
    r_missing = client.get(f"/api/v1/plans/{a.plan.pk}/goals/{uuid.uuid4()}/")
    assert (r_hidden.status_code, r_hidden.content) == (r_missing.status_code, r_missing.content)


MASS_FIELDS = {
    "plan": "plan",
    "id": str(uuid.uuid4()),
    "version": 77,
    "plan_version": 77,
    "created_by": 1,
    "updated_by": 1,
    "created_at": "2020-01-01T00:00:00Z",
    "restricted_by": None,
    "hidden_from_guardians": True,
    "family": "x",
    "history_user": 1,
    "history_date": "2020-01-01T00:00:00Z",
    "owner": 1,
    "status_log": [],
}


@pytest.mark.parametrize("kind", ["needs", "goals", "actions", "reviews", "comments", "dissents"])
@pytest.mark.parametrize("field", sorted(MASS_FIELDS))
def test_mass_assignment_is_refused(api, world, kind, field):  # noqa: F811
    a = world.sides["own"]
    base = {
        "needs": {"category": "general", "title": "t"},
        "goals": {"category": "general", "title": "t", "desired_outcome": "o"},
        "actions": {
            "category": "general",
            "description": "d",
            "responsible_kind": "organization",
            "responsible_organization": str(world.organization_id),
        },
        "reviews": {"category": "general", "held_on": "2026-01-01"},
        "comments": {"target_type": "plan", "text": "x"},
        "dissents": {"target_type": "plan", "text": "x"},
    }[kind]
    client = api.as_user(world.user("lead"))
    url = f"/api/v1/plans/{a.plan.pk}/{kind}/"
    r = client.post(url, {**base, field: MASS_FIELDS[field]})
    assert r.status_code == 400, r.content
    assert field in [e["field"] for e in r.json()["errors"]]
    item = a.items[(kind, "general" if kind not in ("comments", "dissents") else "social")]
    r = client.patch(
        f"{url}{item.pk}/", {field: MASS_FIELDS[field]}, HTTP_IF_MATCH=f'W/"{item.version}"'
    )
    assert r.status_code == 400, r.content


def test_family_cannot_escalate_a_comment_into_another_category(api, world):  # noqa: F811
    """A guardian's words about a general goal stay general, whatever category is asked."""
    a = world.sides["own"]
    goal = a.items[("goals", "general")]
    r = api.as_user(world.user("guardian")).post(
        f"/api/v1/plans/{a.plan.pk}/comments/",
        {"target_type": "goal", "target_id": str(goal.pk), "text": "x", "category": "social"},
    )
    assert r.status_code == 201
    assert r.json()["category"] == "general"


def test_the_plan_and_signatures_resist_injection(api, world):  # noqa: F811
    a = world.sides["own"]
    before = (Goal.objects.filter(plan=a.plan).count(), Need.objects.filter(plan=a.plan).count())
    client = api.as_user(world.user("lead"))
    for field, value in (
        ("version", 1),
        ("family", str(world.sides["other"].family_id)),
        ("id", str(uuid.uuid4())),
        ("created_by", 1),
    ):
        r = client.patch(
            f"/api/v1/plans/{a.plan.pk}/", {field: value}, HTTP_IF_MATCH=f'W/"{a.plan.version}"'
        )
        assert r.status_code == 400
        assert field in r.content.decode()
    guardian = api.as_user(world.user("guardian"))
    r = guardian.post(
        f"/api/v1/plans/{a.plan.pk}/acknowledgements/",
        {
            "version": a.plan.version,
            "decision": "agree",
            "person": str(world.child_person.pk),
            "content_hash": "0" * 64,
        },
    )
    assert r.status_code == 400
    assert Acknowledgement.objects.filter(person=world.child_person).count() == 0
    after = (Goal.objects.filter(plan=a.plan).count(), Need.objects.filter(plan=a.plan).count())
    assert after == before
