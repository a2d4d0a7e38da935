"""`GET /api/v1/plans/{id}/fhir/` and the export selector: rights, filtering, logging."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from fhir_export.identifiers import derive
from plan_service import policy
from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.export import plan_export, plan_snapshot
from plan_service.plans.models import Action, Comment, Goal, Need, Plan
from tests import factories

pytestmark = pytest.mark.django_db

SECRET = "SOCIAL-SECRET"


def url(plan: Plan, query: str = "") -> str:
    return f"/api/v1/plans/{plan.pk}/fhir/{query}"


@pytest.fixture
def world() -> SimpleNamespace:
    """A health-sector lead, a social worker and a teacher; health and social items.

    The lead (health sector, statutory basis) may not read the social category.
    """
    lead = factories.professional("public_health_nurse", org=factories.organization("health"))
    family = factories.family(children=2, guardians=1)
    plan = factories.plan(lead, family)
    social = factories.professional("child_protection_social_worker")
    teacher = factories.professional("teacher", org=factories.organization("education"))
    factories.add_member(plan, lead, social)
    factories.add_member(plan, lead, teacher)
    children = list(Person.objects.filter(family=family, kind="child").order_by("given_name"))
    guardian = Person.objects.get(family=family, kind="guardian")

    def create(actor: Any, model: Any, **data: Any) -> Any:
        return services.item_create(actor=actor.user, plan_id=plan.pk, model=model, data=data)

    need = create(lead, Need, category="health", title="Uni", concerns=[children[0].pk])
    goal = create(
        lead, Goal, category="health", title="Hyvä uni", desired_outcome="Nukkuu", need=need.pk
    )
    secret_need = create(social, Need, category="social", title=f"{SECRET}-NEED")
    secret_goal = create(
        social,
        Goal,
        category="social",
        title=f"{SECRET}-GOAL",
        desired_outcome=f"{SECRET}-OUTCOME",
        need=secret_need.pk,
    )
    secret_action = create(
        social,
        Action,
        category="social",
        goal=secret_goal.pk,
        description=f"{SECRET}-ACTION",
        responsible_kind="member",
        responsible_user=social.user.pk,
    )
    secret_comment = create(
        social,
        Comment,
        kind="comment",
        target_type="goal",
        target_id=secret_goal.pk,
        text=f"{SECRET}-COMMENT",
    )
    return SimpleNamespace(
        plan=Plan.objects.get(pk=plan.pk),
        lead=lead,
        social=social,
        teacher=teacher,
        children=children,
        guardian=guardian,
        need=need,
        goal=goal,
        secret=[secret_need, secret_goal, secret_action, secret_comment],
    )


def entries(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind]


def lead_version(api, world) -> int:
    """The plan's version as the lead sees it (versions are counted per reader, issue 11)."""
    return api.as_user(world.lead.user).get(f"/api/v1/plans/{world.plan.pk}/").json()["version"]


def test_lead_receives_the_plan_as_a_fhir_json_transaction_bundle(api, world) -> None:
    response = api.as_user(world.lead.user).get(url(world.plan))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response["ETag"] == f'W/"{lead_version(api, world)}"'
    body = response.json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "transaction"
    assert len(entries(body, "CarePlan")) == 2
    assert len(entries(body, "Patient")) == 2
    assert len(entries(body, "RelatedPerson")) == 2  # one guardian toward each of two children


def test_exporting_the_same_version_twice_gives_the_same_bundle(api, world) -> None:
    client = api.as_user(world.lead.user)
    first, second = client.get(url(world.plan)), client.get(url(world.plan))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


def test_every_export_writes_one_disclosure_row_per_person(api, world) -> None:
    response = api.as_user(world.lead.user).get(url(world.plan))
    assert response.status_code == 200
    rows = list(Disclosure.objects.filter(plan_id=world.plan.pk))
    people = set(Person.objects.filter(family=world.plan.family).values_list("pk", flat=True))
    assert len(rows) == len(people) == 3
    assert {r.subject_id for r in rows} == people
    assert {r.plan_version for r in rows} == {lead_version(api, world)}
    assert all(r.basis.startswith("statute:") for r in rows)
    exports = AccessEvent.objects.filter(plan_id=world.plan.pk, action="export")
    assert exports.count() == 3


def test_member_without_export_rights_gets_403_and_nothing_is_disclosed(api, world) -> None:
    response = api.as_user(world.teacher.user).get(url(world.plan))
    assert response.status_code == 403
    assert not Disclosure.objects.filter(plan_id=world.plan.pk).exists()


def test_plan_outside_the_callers_plans_answers_404_like_a_missing_one(api, world) -> None:
    stranger = factories.professional("public_health_nurse")
    hidden = api.as_user(stranger.user).get(url(world.plan))
    missing = api.as_user(world.lead.user).get(
        "/api/v1/plans/00000000-0000-0000-0000-000000000000/fhir/"
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert not Disclosure.objects.filter(plan_id=world.plan.pk).exists()


def test_anonymous_caller_gets_401(api, world) -> None:
    assert api.get(url(world.plan)).status_code == 401


def test_an_earlier_version_exports_as_it_stood(api, world) -> None:
    client = api.as_user(world.lead.user)
    current = lead_version(api, world)
    now = client.get(url(world.plan, f"?version={current}"))
    assert now.status_code == 200
    assert now.content == client.get(url(world.plan)).content
    goal = Goal.objects.filter(plan=world.plan).order_by("created_at").first()
    seen = client.get(f"/api/v1/plans/{world.plan.pk}/goals/{goal.pk}/").json()["plan_version"]
    then = client.get(url(world.plan, f"?version={seen - 1}"))
    assert then.status_code == 200, then.content
    assert then["ETag"] == f'W/"{seen - 1}"'
    goal_ids = {
        e["resource"]["id"] for e in then.json()["entry"] if e["resource"]["resourceType"] == "Goal"
    }
    now_ids = {
        e["resource"]["id"] for e in now.json()["entry"] if e["resource"]["resourceType"] == "Goal"
    }
    assert len(goal_ids) < len(now_ids)  # the goal added later is not in the earlier version
    for bad in (str(current + 1), "abc", "0"):
        response = client.get(url(world.plan, f"?version={bad}"))
        assert response.status_code == 400, bad
        assert [e["field"] for e in response.json()["errors"]] == ["version"]
    assert Disclosure.objects.filter(plan_id=world.plan.pk).count() == 9  # three good exports


def test_recipient_without_rights_to_a_category_gets_no_resource_reference_or_count(
    api, world
) -> None:
    body_text = api.as_user(world.lead.user).get(url(world.plan)).content.decode()
    body = json.loads(body_text)
    assert SECRET not in body_text
    for item in world.secret:
        assert str(item.pk) not in body_text
        for kind in ("Goal", "Condition"):
            assert derive(kind, item.pk) not in body_text
    assert [g["description"]["text"] for g in entries(body, "Goal")] == ["Hyvä uni"]
    assert len(entries(body, "Condition")) == 1
    for care_plan in entries(body, "CarePlan"):
        assert len(care_plan.get("goal", [])) == 1
        assert "activity" not in care_plan


def test_snapshot_holds_only_the_categories_the_recipient_may_read(world) -> None:
    access = policy.plan_access(world.teacher.user, world.plan)
    snapshot = plan_snapshot(access)
    assert not snapshot.goals
    assert not snapshot.needs
    assert not snapshot.remarks
    social = plan_snapshot(policy.plan_access(world.social.user, world.plan))
    assert {g.category for g in social.goals} == {"social"}
    assert [r.text for r in social.remarks] == [f"{SECRET}-COMMENT"]


def test_item_a_child_hid_reaches_professionals_labelled_and_never_the_guardians(world) -> None:
    child = world.children[0]
    need = Need.objects.get(pk=world.need.pk)
    need.restricted_by = child
    need.save()
    guardian_user = factories.link(world.guardian)
    guardian_access = policy.plan_access(guardian_user, world.plan)
    assert guardian_access is not None
    assert world.need.pk not in {n.id for n in plan_snapshot(guardian_access).needs}
    body = plan_export(actor=world.lead.user, plan_id=world.plan.pk).bundle
    (condition,) = entries(body, "Condition")
    assert condition["meta"]["security"][0]["code"] == "3"


def test_identity_codes_never_reach_logs_or_log_rows(api, world, caplog) -> None:
    codes = list(
        Person.objects.filter(family=world.plan.family).values_list("identity_code", flat=True)
    )
    with caplog.at_level(logging.DEBUG):
        response = api.as_user(world.lead.user).get(url(world.plan))
    assert response.status_code == 200
    assert all(code in response.content.decode() for code in codes)  # in the Bundle, as intended
    logged = caplog.text + json.dumps(
        [
            list(Disclosure.objects.values()),
            list(AccessEvent.objects.values()),
        ],
        default=str,
    )
    assert not any(code in logged for code in codes)


def test_completed_plan_still_exports_as_completed(api, world) -> None:
    services.plan_update(
        actor=world.lead.user,
        plan_id=world.plan.pk,
        expected_version=None,
        data={"status": "completed"},
    )
    body = api.as_user(world.lead.user).get(url(world.plan)).json()
    assert {p["status"] for p in entries(body, "CarePlan")} == {"completed"}


def test_snapshots_read_together_equal_snapshots_read_alone(world) -> None:
    """The batched reader (bulk export) gives each recipient exactly their own view."""
    from plan_service.plans.export import plan_snapshots

    other = factories.plan(world.lead, factories.family(children=1, guardians=2))
    need = Need.objects.get(pk=world.need.pk)
    need.restricted_by = world.children[0]
    need.save()
    guardian_user = factories.link(world.guardian)
    accesses = [
        policy.plan_access(guardian_user, world.plan),
        policy.plan_access(world.lead.user, world.plan),
        policy.plan_access(world.teacher.user, world.plan),
        policy.plan_access(world.social.user, world.plan),
        policy.plan_access(world.lead.user, other),
    ]
    together = plan_snapshots(accesses)
    assert together == [plan_snapshot(a) for a in accesses]
    assert world.need.pk not in {n.id for n in together[0].needs}  # hidden from the guardian
    assert world.need.pk in {n.id for n in together[1].needs}  # the lead sees it
