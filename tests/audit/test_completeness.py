"""Security.md row H: the access-log rows one request writes equal the people it touched.

Each case sends one request with its own X-Request-Id, then compares the rows carrying that id
with what an independent oracle says the request touched: per person, the action — 0 missing,
0 duplicate, nothing extra. The oracle reads the database and the response, not the views' code.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Action as ActionItem
from plan_service.plans.models import Comment, Dissent, Goal, Need, PlanItem, Review
from tests import factories

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """Two families with plans by different leads, items with and without `concerns`."""

    lead: Any
    other_lead: Any
    member: Any
    plan: Any
    other_plan: Any
    second_plan: Any  # another plan of the same lead, so lists hold two families
    family: Any
    guardian: Any  # user
    child: Any  # user
    child_person: Person
    sibling: Person
    items: dict[str, list[PlanItem]]
    spare_family: Any  # registered by the lead, no plan yet


def _people(family_id: Any) -> set[uuid.UUID]:
    return set(Person.objects.filter(family_id=family_id).values_list("pk", flat=True))


def _touched(item: PlanItem) -> set[uuid.UUID]:
    return set(item.concerns) if item.concerns else _people(item.plan.family_id)


@pytest.fixture
def world() -> World:
    lead = factories.professional()
    fam = factories.family(children=2, guardians=2, child_age=15)
    plan = factories.plan(lead, fam)
    kids = list(fam.members.filter(kind="child").order_by("given_name"))
    guardian = factories.link(fam.members.filter(kind="guardian").first())
    child = factories.link(kids[0])
    member = factories.professional("social_counsellor")
    other_lead = factories.professional()
    other_plan = factories.plan(other_lead)
    second_plan = factories.plan(lead)
    spare = factories.family(children=1, guardians=1)
    spare.created_by = lead.user
    spare.save(update_fields=["created_by"])

    def make(model: type[PlanItem], **data: Any) -> PlanItem:
        return services.item_create(actor=lead.user, plan_id=plan.pk, model=model, data=data)

    need_child = make(Need, category="social", concerns=[kids[0].pk], title="n1")
    need_family = make(Need, category="social", concerns=[], title="n2")
    goal = make(Goal, category="social", concerns=[kids[0].pk], title="g", desired_outcome="o")
    items = {
        "needs": [need_child, need_family],
        "goals": [goal],
        "actions": [
            make(
                ActionItem,
                category="social",
                concerns=[kids[1].pk],
                description="a",
                responsible_kind="organization",
                responsible_organization=lead.organization_id,
            )
        ],
        "reviews": [make(Review, category="social", concerns=[], held_on="2026-01-01")],
        "comments": [make(Comment, target_type="plan", concerns=[kids[0].pk], text="c")],
        "dissents": [make(Dissent, target_type="need", target_id=need_child.pk, text="d")],
    }
    plan.refresh_from_db()
    return World(
        lead,
        other_lead,
        member,
        plan,
        other_plan,
        second_plan,
        fam,
        guardian,
        child,
        kids[0],
        kids[1],
        items,
        spare,
    )


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Any, World], Any]  # (api signed in as the actor, world) -> response
    expect: Callable[[World, Any], Counter[tuple[str, Any]]]  # -> Counter[(action, subject)]
    status: int = 200
    actor: str = "lead"


def rows(action: str, people: set[Any] | list[Any]) -> Counter[tuple[str, Any]]:
    return Counter((action, p) for p in people)


def _etag(response: Any) -> str:
    return response["ETag"]


CASES: list[Case] = []


def case(*args: Any, **kwargs: Any) -> None:
    CASES.append(Case(*args, **kwargs))


P = "/api/v1/plans"

#
# Plans
#
case(
    "plans list",
    lambda api, w: api.get(f"{P}/"),
    lambda w, r: (
        rows("search", _people(w.plan.family_id)) + rows("search", _people(w.second_plan.family_id))
    ),
)
case(
    "plan detail",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/"),
    lambda w, r: rows("read", _people(w.plan.family_id)),
)
case(
    "plan create",
    lambda api, w: api.post(f"{P}/", {"family": str(w.spare_family.pk), "statute": "LSL §30"}),
    lambda w, r: rows("create", _people(w.spare_family.pk)),
    status=201,
)
case(
    "plan update",
    lambda api, w: api.patch(
        f"{P}/{w.plan.pk}/", {"summary": "new"}, HTTP_IF_MATCH=f'W/"{w.plan.version}"'
    ),
    lambda w, r: rows("update", _people(w.plan.family_id)),
)
case(
    "plan explain",
    lambda api, w: api.get(
        f"{P}/{w.plan.pk}/explain/",
        {"member": str(w.plan.memberships.get(user=w.lead.user).pk)},
    ),
    lambda w, r: rows("read", _people(w.plan.family_id)),
)
case(
    "plan of another family (404)",
    lambda api, w: api.get(f"{P}/{w.other_plan.pk}/"),
    lambda w, r: rows("denied", _people(w.other_plan.family_id)),
    status=404,
)
case(
    "plan that does not exist (404)",
    lambda api, w: api.get(f"{P}/{uuid.uuid4()}/"),
    lambda w, r: rows("denied", [None]),
    status=404,
)
case(
    "plan update by a guardian (403)",
    lambda api, w: api.patch(
        f"{P}/{w.plan.pk}/", {"summary": "x"}, HTTP_IF_MATCH=f'W/"{w.plan.version}"'
    ),
    lambda w, r: rows("denied", _people(w.plan.family_id)),
    status=403,
    actor="guardian",
)

#
# Team
#
case(
    "members list",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/members/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
)
case(
    "member add",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/members/",
        {
            "professional": str(w.member.pk),
            "role": "member",
            "basis": "statute",
            "statute": "SHL §41",
        },
    ),
    lambda w, r: rows("create", _people(w.plan.family_id)),
    status=201,
)
case(
    "member end",
    lambda api, w: api.delete(
        f"{P}/{w.plan.pk}/members/{factories.add_member(w.plan, w.lead, w.member).pk}/"
    ),
    lambda w, r: rows("update", _people(w.plan.family_id)),
    status=204,
)
case(
    "members of another family's plan (404)",
    lambda api, w: api.get(f"{P}/{w.other_plan.pk}/members/"),
    lambda w, r: rows("denied", _people(w.other_plan.family_id)),
    status=404,
)

#
# Items: list, read, change, remove, for every kind
#


def _list_expect(kind: str) -> Callable[[World, Any], Counter[tuple[str, Any]]]:
    def expect(w: World, r: Any) -> Counter[tuple[str, Any]]:
        people: set[Any] = set()
        for item in w.items[kind]:
            people |= _touched(item)
        return rows("search", people)

    return expect


PATCHES = {
    "needs": {"title": "changed"},
    "goals": {"title": "changed"},
    "actions": {"description": "changed"},
    "reviews": {"notes": "changed"},
    "comments": {"text": "changed"},
    "dissents": {"text": "changed"},
}

for kind in PATCHES:
    case(
        f"{kind} list",
        lambda api, w, kind=kind: api.get(f"{P}/{w.plan.pk}/{kind}/"),
        _list_expect(kind),
    )
    case(
        f"{kind} detail",
        lambda api, w, kind=kind: api.get(f"{P}/{w.plan.pk}/{kind}/{w.items[kind][0].pk}/"),
        lambda w, r, kind=kind: rows("read", _touched(w.items[kind][0])),
    )
    case(
        f"{kind} change",
        lambda api, w, kind=kind: api.patch(
            f"{P}/{w.plan.pk}/{kind}/{w.items[kind][0].pk}/",
            PATCHES[kind],
            HTTP_IF_MATCH=f'W/"{w.items[kind][0].version}"',
        ),
        lambda w, r, kind=kind: rows("update", _touched(w.items[kind][0])),
    )
    case(
        f"{kind} remove",
        lambda api, w, kind=kind: api.delete(
            f"{P}/{w.plan.pk}/{kind}/{w.items[kind][0].pk}/",
            HTTP_IF_MATCH=f'W/"{w.items[kind][0].version}"',
        ),
        lambda w, r, kind=kind: rows("delete", _touched(w.items[kind][0])),
        status=204,
    )
    case(
        f"{kind} of another family's plan (404)",
        lambda api, w, kind=kind: api.get(f"{P}/{w.other_plan.pk}/{kind}/"),
        lambda w, r: rows("denied", _people(w.other_plan.family_id)),
        status=404,
    )

case(
    "need create about one child",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/needs/",
        {"category": "social", "concerns": [str(w.sibling.pk)], "title": "t"},
    ),
    lambda w, r: rows("create", {w.sibling.pk}),
    status=201,
)
case(
    "need moved from one child to another",
    lambda api, w: api.patch(
        f"{P}/{w.plan.pk}/needs/{w.items['needs'][0].pk}/",
        {"concerns": [str(w.sibling.pk)]},
        HTTP_IF_MATCH=f'W/"{w.items["needs"][0].version}"',
    ),
    lambda w, r: rows("update", {w.child_person.pk, w.sibling.pk}),
)
case(
    "goal create about the family",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/goals/",
        {"category": "social", "concerns": [], "title": "t", "desired_outcome": "o"},
    ),
    lambda w, r: rows("create", _people(w.plan.family_id)),
    status=201,
)
case(
    "comment create by the child",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/comments/",
        {"target_type": "plan", "text": "mine", "kind": "child_view"},
    ),
    lambda w, r: rows("create", _people(w.plan.family_id)),
    status=201,
    actor="child",
)

#
# Acknowledgements
#
case(
    "acknowledgement create",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/acknowledgements/", {"version": w.plan.version, "decision": "agree"}
    ),
    lambda w, r: rows("create", _people(w.plan.family_id)),
    status=201,
    actor="guardian",
)
case(
    "acknowledgements list",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/acknowledgements/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
)

#
# The family's access log
#
case(
    "access log read by the lead",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/access-log/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
)
case(
    "access log read by a guardian",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/access-log/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
    actor="guardian",
)
case(
    "access log read by the child (sees only own rows)",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/access-log/"),
    lambda w, r: rows("search", {w.child_person.pk}),
    actor="child",
)
case(
    "access log of another family (404)",
    lambda api, w: api.get(f"{P}/{w.other_plan.pk}/access-log/"),
    lambda w, r: rows("denied", _people(w.other_plan.family_id)),
    status=404,
)

#
# Families
#
case(
    "families list",
    lambda api, w: api.get("/api/v1/families/"),
    lambda w, r: sum((rows("search", _people(f["id"])) for f in r.json()["results"]), Counter()),
)
case(
    "family detail",
    lambda api, w: api.get(f"/api/v1/families/{w.family.pk}/"),
    lambda w, r: rows("read", _people(w.family.pk)),
)
case(
    "family create",
    lambda api, w: api.post(
        "/api/v1/families/",
        {
            "name": "New",
            "members": [
                {
                    "kind": "child",
                    "given_name": "A",
                    "family_name": "New",
                    "identity_code": factories.identity_code(5),
                },
                {
                    "kind": "guardian",
                    "given_name": "B",
                    "family_name": "New",
                    "identity_code": factories.identity_code(40),
                    "guardian_of": [0],
                },
            ],
        },
    ),
    lambda w, r: rows("create", {uuid.UUID(m["id"]) for m in r.json()["members"]}),
    status=201,
)
case(
    "family of someone else (404)",
    lambda api, w: api.get(f"/api/v1/families/{w.other_plan.family_id}/"),
    lambda w, r: rows("denied", _people(w.other_plan.family_id)),
    status=404,
)

#
# Consents
#


def _consent(w: World) -> Any:
    from plan_service.consent import services as consent_services

    return consent_services.consent_create(
        actor=w.lead.user,
        family=w.family,
        grantor_id=w.family.members.filter(kind="guardian").first().pk,
        subject_ids=[w.child_person.pk],
        categories=["health"],
        purpose="care",
        recipient_organization=None,
        recipient_sector="health",
        valid_from=None,
        valid_until=None,
        status="active",
        method_detail="by phone",
    )


case(
    "consent create",
    lambda api, w: api.post(
        "/api/v1/consents/",
        {
            "family": str(w.family.pk),
            "grantor": str(w.family.members.filter(kind="guardian").first().pk),
            "subjects": [str(w.sibling.pk)],
            "categories": ["health"],
            "purpose": "care",
            "recipient_sector": "health",
            "method_detail": "in person",
        },
    ),
    lambda w, r: rows("create", {w.sibling.pk}),
    status=201,
)
case(
    "consents list",
    lambda api, w: (_consent(w), api.get("/api/v1/consents/"))[1],
    lambda w, r: rows("search", {w.child_person.pk}),
)
case(
    "consent detail",
    lambda api, w: api.get(f"/api/v1/consents/{_consent(w).pk}/"),
    lambda w, r: rows("read", {w.child_person.pk}),
)
case(
    "consent withdraw",
    lambda api, w: api.post(f"/api/v1/consents/{_consent(w).pk}/withdraw/", {"reason": "r"}),
    lambda w, r: rows("update", {w.child_person.pk}),
)


#
# History, exports, the minor's restriction
#
case(
    "history versions",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/history/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
)
case(
    "history as of a version",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/history/", {"version": 1}),
    lambda w, r: rows("read", _people(w.plan.family_id)),
)
case(
    "history diff",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/history/diff/", {"from": 1, "to": 2}),
    lambda w, r: rows("read", _people(w.plan.family_id)),
)
case(
    "history of another family's plan (404)",
    lambda api, w: api.get(f"{P}/{w.other_plan.pk}/history/"),
    lambda w, r: rows("denied", _people(w.other_plan.family_id)),
    status=404,
)
case(
    "FHIR export",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/fhir/"),
    lambda w, r: rows("export", _people(w.plan.family_id)),
)
case(
    "FHIR export by a guardian (403)",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/fhir/"),
    lambda w, r: rows("denied", _people(w.plan.family_id)),
    status=403,
    actor="guardian",
)
case(
    "maturity assessment",
    lambda api, w: api.post(
        f"{P}/{w.plan.pk}/assessments/", {"child": str(w.child_person.pk), "code": 2}
    ),
    lambda w, r: rows("create", {w.child_person.pk}),
    status=201,
)
case(
    "assessments list",
    lambda api, w: api.get(f"{P}/{w.plan.pk}/assessments/"),
    lambda w, r: rows("search", _people(w.plan.family_id)),
)


def _actor(w: World, name: str) -> Any:
    return {"lead": w.lead.user, "guardian": w.guardian, "child": w.child}[name]


def _logged(request_id: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(request_id=request_id))


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_log_rows_equal_the_people_a_request_touched(api, world, c):
    request_id = f"complete-{uuid.uuid4().hex}"
    client = api.as_user(_actor(world, c.actor))
    client.headers["HTTP_X_REQUEST_ID"] = request_id
    response = c.call(client, world)
    assert response.status_code == c.status, response.content
    for items in world.items.values():
        for item in items:
            item.refresh_from_db() if type(item).objects.filter(pk=item.pk).exists() else None
    logged = _logged(request_id)
    actual = Counter((row.action, row.subject_id) for row in logged)
    expected = c.expect(world, response)
    missing, extra = expected - actual, actual - expected
    assert (dict(missing), dict(extra)) == ({}, {}), f"missing {missing}, extra {extra}"
    keys = Counter((r.action, r.object_type, r.object_id, r.subject_id) for r in logged)
    assert [k for k, n in keys.items() if n > 1] == []
    if c.status in (403, 404):
        assert {(r.outcome, r.outcome_code) for r in logged} == {("denied", c.status)}
