"""A throwaway item kind, declared in a test app (tests/kindapp), gets the whole item life from
its declaration alone: routes, list, detail, create, update, history and export, with the policy
applied (a reader without the category gets 404 on it and finds no trace of it)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps

from plan_service import policy
from plan_service.plans import kinds, services
from plan_service.plans.export import plan_snapshot
from plan_service.plans.models import ITEM_MODELS, Goal, Plan, PlanItem
from tests import factories
from tests.kindapp.kinds import STRENGTH
from tests.kindapp.models import Strength

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.kindapp.urls")]

SECRET = "SOCIAL-STRENGTH"


@pytest.fixture
def strengths() -> Iterator[kinds.ItemKind]:
    """The kind is declared for the test only (nothing else in the suite sees it)."""
    with kinds.registered(STRENGTH) as kind:
        yield kind


@pytest.fixture
def world(strengths: kinds.ItemKind) -> SimpleNamespace:
    """A health-sector lead (may not read `social`), a social worker and a teacher."""
    lead = factories.professional("public_health_nurse", org=factories.organization("health"))
    plan = factories.plan(lead, factories.family(children=1, guardians=1))
    social = factories.professional("child_protection_social_worker")
    teacher = factories.professional("teacher", org=factories.organization("education"))
    factories.add_member(plan, lead, social)
    factories.add_member(plan, lead, teacher)
    health_goal = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "health", "title": "Sleep", "desired_outcome": "Sleeps"},
    )
    social_goal = services.item_create(
        actor=social.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "social", "title": f"{SECRET}-GOAL", "desired_outcome": "o"},
    )
    return SimpleNamespace(
        plan=Plan.objects.get(pk=plan.pk),
        lead=lead,
        social=social,
        teacher=teacher,
        health_goal=health_goal,
        social_goal=social_goal,
    )


def base(plan: Plan) -> str:
    return f"/api/v1/plans/{plan.pk}/strengths/"


def create(api: Any, who: Any, plan: Plan, **data: Any) -> Any:
    return api.as_user(who.user).post(base(plan), data)


def test_the_declaration_alone_makes_the_kind_an_item_model(strengths) -> None:
    assert ITEM_MODELS["strength"] is Strength
    assert kinds.of(Strength) is STRENGTH


def test_outside_its_declaration_the_kind_does_not_exist() -> None:
    assert "strength" not in ITEM_MODELS
    with kinds.registered(STRENGTH):
        assert list(ITEM_MODELS)[-1] == "strength"
    assert "strength" not in ITEM_MODELS


def test_every_item_model_of_the_service_is_declared() -> None:
    service_items = {
        m
        for m in apps.get_models()
        if issubclass(m, PlanItem) and m._meta.app_label != Strength._meta.app_label
    }
    assert service_items == set(ITEM_MODELS.values())


def test_a_kind_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        kinds.register(dataclasses.replace(kinds.NEED, route="other-needs"))


def test_a_related_id_shows_only_when_visible() -> None:
    seen, hidden = uuid.uuid4(), uuid.uuid4()
    assert kinds.visible_id(seen, {seen}) == seen
    assert kinds.visible_id(hidden, {seen}) is None
    assert kinds.visible_id(None, {seen}) is None
    entries = [{"goal": str(seen), "note": "a"}, {"goal": str(hidden), "note": "b"}]
    assert kinds.visible_entries(entries, "goal", {seen}) == [entries[0]]


def test_a_declared_kind_is_created_listed_read_and_updated_through_its_routes(api, world) -> None:
    lead = api.as_user(world.lead.user)
    created = create(
        api,
        world.lead,
        world.plan,
        category="health",
        title="Loves football",
        text="Plays twice a week",
        goal=str(world.health_goal.pk),
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["title"] == "Loves football"
    assert body["goal"] == str(world.health_goal.pk)
    assert body["version"] == 1
    item_url = f"{base(world.plan)}{body['id']}/"

    listed = lead.get(base(world.plan))
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [body["id"]]
    detail = lead.get(item_url)
    assert detail.status_code == 200
    assert detail["ETag"] == 'W/"1"'
    assert detail.json() == body

    assert lead.patch(item_url, {"text": "Plays every day"}).status_code == 428
    changed = lead.patch(item_url, {"text": "Plays every day"}, HTTP_IF_MATCH='W/"1"')
    assert changed.status_code == 200, changed.content
    assert changed.json()["text"] == "Plays every day"
    assert changed.json()["version"] == 2
    stale = lead.patch(item_url, {"text": "x"}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    bad = lead.patch(item_url, {"goal": "not-an-id"}, HTTP_IF_MATCH='W/"2"')
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["goal"]

    # Every write has its history row, by its writer, and the counts know the kind.
    rows = Strength.history.filter(id=body["id"]).order_by("history_date")
    assert [(r.history_type, r.history_user_id) for r in rows] == [
        ("+", world.lead.user.pk),
        ("~", world.lead.user.pk),
    ]
    assert lead.get(f"/api/v1/plans/{world.plan.pk}/").json()["counts"]["strength"] == 1


def test_history_shows_the_kind_as_it_stood_and_what_changed(api, world) -> None:
    lead = api.as_user(world.lead.user)
    body = create(api, world.lead, world.plan, category="health", title="Calm", text="a").json()
    item_url = f"{base(world.plan)}{body['id']}/"
    lead.patch(item_url, {"text": "b"}, HTTP_IF_MATCH='W/"1"')
    history = f"/api/v1/plans/{world.plan.pk}/history/"
    version = lead.get(f"/api/v1/plans/{world.plan.pk}/").json()["version"]

    entries = lead.get(history).json()["results"]
    assert {"type": "strength", "id": body["id"], "change": "changed"} in entries[0]["changes"]
    before = lead.get(history, {"version": version - 1}).json()["items"]["strength"]
    after = lead.get(history, {"version": version}).json()["items"]["strength"]
    assert [(s["id"], s["text"]) for s in before] == [(body["id"], "a")]
    assert [(s["id"], s["text"]) for s in after] == [(body["id"], "b")]
    diff = lead.get(f"{history}diff/", {"from": version - 1, "to": version}).json()
    assert diff["changed"] == [
        {
            "type": "strength",
            "id": body["id"],
            "from_version": 1,
            "to_version": 2,
            "fields": {"text": {"from": "a", "to": "b"}},
        }
    ]


def test_a_reader_without_the_category_gets_404_and_no_trace(api, world) -> None:
    secret = create(
        api,
        world.social,
        world.plan,
        category="social",
        title=f"{SECRET}-TITLE",
        text=f"{SECRET}-TEXT",
    )
    assert secret.status_code == 201, secret.content
    secret_url = f"{base(world.plan)}{secret.json()['id']}/"
    lead = api.as_user(world.lead.user)

    assert lead.get(base(world.plan)).json()["results"] == []
    assert lead.get(secret_url).status_code == 404
    assert lead.patch(secret_url, {"text": "x"}, HTTP_IF_MATCH='W/"1"').status_code == 404
    refused = create(api, world.lead, world.plan, category="social", title="t", text="x")
    assert refused.status_code in (400, 403)
    assert Strength.objects.filter(plan=world.plan).count() == 1
    assert lead.get(f"/api/v1/plans/{world.plan.pk}/").json()["counts"]["strength"] == 0
    history = api.as_user(world.lead.user).get(f"/api/v1/plans/{world.plan.pk}/history/")
    assert SECRET not in history.content.decode()
    assert secret.json()["id"] not in history.content.decode()
    # The one who may read the category sees it.
    social = api.as_user(world.social.user)
    assert social.get(secret_url).json()["title"] == f"{SECRET}-TITLE"


def test_a_link_to_a_goal_the_reader_cannot_see_reads_as_no_link(api, world) -> None:
    linked = create(
        api,
        world.social,
        world.plan,
        category="general",
        title="Shared",
        text="t",
        goal=str(world.social_goal.pk),
    ).json()
    item_url = f"{base(world.plan)}{linked['id']}/"
    assert api.as_user(world.social.user).get(item_url).json()["goal"] == str(world.social_goal.pk)
    seen_by_lead = api.as_user(world.lead.user).get(item_url)
    assert seen_by_lead.status_code == 200
    assert seen_by_lead.json()["goal"] is None
    # Linking to a goal the writer cannot see is the same 400 as linking to a missing one.
    hidden = create(
        api, world.lead, world.plan, category="health", title="t", goal=str(world.social_goal.pk)
    )
    assert hidden.status_code == 400
    assert [e["field"] for e in hidden.json()["errors"]] == ["goal"]


def test_the_export_carries_the_kind_only_to_whom_may_receive_it(api, world) -> None:
    create(api, world.lead, world.plan, category="health", title="HEALTH-STRENGTH", text="ok")
    create(api, world.social, world.plan, category="social", title=SECRET, text="hidden")
    response = api.as_user(world.lead.user).get(f"/api/v1/plans/{world.plan.pk}/fhir/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "HEALTH-STRENGTH: ok" in text
    assert SECRET not in text
    notes = [
        n["text"]
        for e in json.loads(text)["entry"]
        if e["resource"]["resourceType"] == "CarePlan"
        for n in e["resource"].get("note", [])
    ]
    assert "HEALTH-STRENGTH: ok" in notes

    social = plan_snapshot(policy.plan_access(world.social.user, world.plan))
    assert [i.text for i in social.other_items] == [f"{SECRET}: hidden"]
    teacher = plan_snapshot(policy.plan_access(world.teacher.user, world.plan))
    assert teacher.other_items == ()


def test_the_whole_plan_document_holds_the_kind_as_each_reader_may_see_it(api, world) -> None:
    mine = create(api, world.lead, world.plan, category="health", title="Mine", text="m").json()
    create(api, world.social, world.plan, category="social", title=SECRET, text="s")
    document_url = f"/api/v1/plans/{world.plan.pk}/document/"
    lead = api.as_user(world.lead.user).get(document_url)
    assert lead.status_code == 200
    assert [s["id"] for s in lead.json()["items"]["strength"]] == [mine["id"]]
    assert lead.json()["counts"]["strength"] == 1
    assert SECRET not in lead.content.decode()
    teacher = api.as_user(world.teacher.user).get(document_url).json()
    assert teacher["items"]["strength"] == []
    assert teacher["counts"]["strength"] == 0
