"""Issue 2: every plan endpoint's happy path and its refusals, with the one error shape."""

from __future__ import annotations

import pytest

from plan_service.plans.models import Goal, Plan
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    lead = factories.professional("child_protection_social_worker")
    plan = factories.plan(lead)
    return lead, plan


def test_it_creates_a_plan_and_makes_the_caller_lead(api):
    lead = factories.professional("public_health_nurse")
    family = factories.family(children=2, guardians=2)
    family.created_by = lead.user
    family.save()
    client = api.as_user(lead.user)
    response = client.post(
        "/api/v1/plans/",
        {"family": str(family.pk), "statute": "THL §15", "summary": "Perheen tilanne"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["permissions"]["plan_role"] == "lead"
    assert response["ETag"] == f'W/"{body["version"]}"'
    assert response["Cache-Control"] == "no-store"


def test_a_second_open_plan_for_a_family_is_a_409(api, team):
    lead, plan = team
    response = api.as_user(lead.user).post(
        "/api/v1/plans/", {"family": str(plan.family_id), "statute": "LSL §30"}
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "conflict"
    assert Plan.objects.filter(family_id=plan.family_id).count() == 1


def test_it_rejects_an_invalid_identity_code_naming_the_field(api):
    pro = factories.professional()
    response = api.as_user(pro.user).post(
        "/api/v1/families/",
        {
            "name": "Testi",
            "members": [
                {
                    "kind": "child",
                    "given_name": "A",
                    "family_name": "B",
                    "identity_code": "131052-308U",
                }
            ],
        },
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "members.0.identity_code"
    assert error["code"] == "invalid_identity_code"


def test_it_rejects_unknown_and_read_only_fields(api, team):
    lead, plan = team
    response = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/goals/",
        {
            "category": "general",
            "title": "t",
            "desired_outcome": "o",
            "colour": "red",
            "version": 99,
            "plan": "x",
        },
    )
    assert response.status_code == 400
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["colour", "plan", "version"]
    assert not Goal.objects.filter(plan=plan).exists()


def test_it_answers_415_to_a_non_json_body(api, team):
    lead, plan = team
    response = api.as_user(lead.user).client.post(
        f"/api/v1/plans/{plan.pk}/goals/",
        data="title=x",
        content_type="text/plain",
        **factories.token_header(lead.user),
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"


def test_it_answers_400_to_malformed_json(api, team):
    lead, plan = team
    response = api.as_user(lead.user).client.post(
        f"/api/v1/plans/{plan.pk}/goals/",
        data="{not json",
        content_type="application/json",
        **factories.token_header(lead.user),
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("path", "target", "ok"),
    [
        (["active"], "draft", False),
        (["active"], "on_hold", True),
        (["active", "on_hold"], "active", True),
        ([], "completed", False),
        ([], "on_hold", False),
        (["active", "completed"], "active", False),
    ],
)
def test_the_state_machine_refuses_illegal_moves(api, path, target, ok):
    lead = factories.professional()
    plan = factories.plan(lead, status="draft")
    client = api.as_user(lead.user)
    for step in path:
        plan.refresh_from_db()
        r = client.patch(
            f"/api/v1/plans/{plan.pk}/", {"status": step}, HTTP_IF_MATCH=f'W/"{plan.version}"'
        )
        assert r.status_code == 200, r.content
    plan.refresh_from_db()
    response = client.patch(
        f"/api/v1/plans/{plan.pk}/", {"status": target}, HTTP_IF_MATCH=f'W/"{plan.version}"'
    )
    if ok:
        assert response.status_code == 200, response.content
    elif plan.status == "completed":
        assert response.status_code == 403  # a completed plan is read-only
    else:
        assert response.status_code == 400
        assert response.json()["errors"][0] == {
            "field": "status",
            "code": "invalid_transition",
            "message": response.json()["errors"][0]["message"],
        }


def test_writes_need_if_match_and_refuse_stale_versions(api, team):
    lead, plan = team
    client = api.as_user(lead.user)
    created = client.post(f"/api/v1/plans/{plan.pk}/needs/", {"category": "social", "title": "a"})
    assert created.status_code == 201
    url = f"/api/v1/plans/{plan.pk}/needs/{created.json()['id']}/"
    assert client.patch(url, {"title": "b"}).status_code == 428
    assert client.patch(url, {"title": "b"}, HTTP_IF_MATCH="banana").status_code == 400
    assert client.patch(url, {"title": "b"}, HTTP_IF_MATCH='W/"1"').status_code == 200
    stale = client.patch(url, {"title": "c"}, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    assert client.get(url).json()["title"] == "b"


def test_item_changes_advance_the_plan_version(api, team):
    lead, plan = team
    client = api.as_user(lead.user)
    before = client.get(f"/api/v1/plans/{plan.pk}/").json()["version"]
    item = client.post(
        f"/api/v1/plans/{plan.pk}/goals/",
        {"category": "general", "title": "g", "desired_outcome": "o"},
    ).json()
    after = client.get(f"/api/v1/plans/{plan.pk}/").json()["version"]
    assert after == before + 1 == item["plan_version"]


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        (
            "goals",
            {
                "category": "general",
                "title": "t",
                "desired_outcome": "o",
                "target_date": "next week",
            },
            "target_date",
        ),
        ("goals", {"category": "secret", "title": "t", "desired_outcome": "o"}, "category"),
        ("goals", {"category": "general", "desired_outcome": "o"}, "title"),
        (
            "actions",
            {"category": "general", "description": "d", "responsible_kind": "member"},
            "responsible_user",
        ),
        (
            "actions",
            {
                "category": "general",
                "description": "d",
                "responsible_kind": "organization",
                "responsible_organization": "00000000-0000-0000-0000-000000000000",
            },
            "responsible_organization",
        ),
        ("reviews", {"category": "general", "held_on": "2026-13-01"}, "held_on"),
        (
            "reviews",
            {
                "category": "general",
                "held_on": "2026-01-01",
                "progress": [{"goal": "nope", "note": "x"}],
            },
            "progress.0.goal",
        ),
        ("comments", {"target_type": "goal", "text": "x"}, "target_id"),
        (
            "comments",
            {
                "target_type": "goal",
                "target_id": "6b7c7a2e-2f0b-4a5e-9d2e-000000000000",
                "text": "x",
            },
            "target_id",
        ),
        ("dissents", {"target_type": "wish", "text": "x"}, "target_type"),
        ("needs", {"category": "general", "title": "t", "concerns": ["not-a-uuid"]}, "concerns.0"),
        (
            "needs",
            {
                "category": "general",
                "title": "t",
                "concerns": ["6b7c7a2e-2f0b-4a5e-9d2e-000000000000"],
            },
            "concerns",
        ),
    ],
)
def test_bad_item_input_is_a_400_naming_the_field(api, team, kind, payload, field):
    lead, plan = team
    response = api.as_user(lead.user).post(f"/api/v1/plans/{plan.pk}/{kind}/", payload)
    assert response.status_code == 400, response.content
    assert field in [e["field"] for e in response.json()["errors"]]


def test_anonymous_requests_get_401_with_a_bearer_challenge(api, team):
    _, plan = team
    response = api.get(f"/api/v1/plans/{plan.pk}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_issued_and_revoked(api):
    factories.user("tokenuser")
    bad = api.post("/api/v1/auth/token/", {"username": "tokenuser", "password": "wrong"})
    assert bad.status_code == 400
    good = api.post(
        "/api/v1/auth/token/", {"username": "tokenuser", "password": "test-password-123"}
    )
    assert good.status_code == 200
    header = {"HTTP_AUTHORIZATION": f"Token {good.json()['token']}"}
    assert api.get("/api/v1/me/", **header).status_code == 200
    assert api.delete("/api/v1/auth/token/", **header).status_code == 204
    assert api.get("/api/v1/me/", **header).status_code == 401


def test_health_and_readiness(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_schema_documents_bodies_and_errors(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    goal_post = schema["paths"]["/api/v1/plans/{plan_pk}/goals/"]["post"]
    assert "requestBody" in goal_post
    assert {"201", "400", "412", "415", "428"} <= set(goal_post["responses"])
    assert api.get("/api/docs/").status_code == 200


def test_session_login_page_signs_in_for_the_api():
    from django.test import Client

    lead = factories.professional()
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    signed_in = client.post(
        "/accounts/login/",
        {
            "username": lead.user.username,
            "password": "test-password-123",
            "csrfmiddlewaretoken": token,
            "next": "/api/v1/me/",
        },
    )
    assert signed_in.status_code == 302
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["kind"] == "professional"
    # Unsafe methods over a session need the CSRF token.
    assert client.post("/api/v1/plans/", {}, content_type="application/json").status_code == 403


def test_unknown_api_urls_answer_the_same_json_404(api):
    user = factories.user()
    response = api.as_user(user).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"field": None, "code": "not_found", "message": "Not found."}]
    }


def test_a_review_changed_by_a_writer_keeps_progress_on_goals_they_cannot_see(api, team):
    """The nurse reads the review without the child-protection goal's entry; her change of
    the progress she sees must not drop it (plans/services/items.py, `_unseen_progress`)."""
    from plan_service.plans import services
    from plan_service.plans.models import Review

    lead, plan = team
    nurse = factories.professional("public_health_nurse")
    factories.add_member(plan, lead, nurse)
    secret = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "social", "title": "s", "desired_outcome": "o"},
    )
    seen = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "general", "title": "g", "desired_outcome": "o"},
    )
    review = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Review,
        data={
            "category": "general",
            "held_on": "2030-01-01",
            "progress": [{"goal": str(secret.pk), "note": "hidden"}],
        },
    )
    client = api.as_user(nurse.user)
    url = f"/api/v1/plans/{plan.pk}/reviews/{review.pk}/"
    read = client.get(url)
    assert read.json()["progress"] == []
    answer = client.patch(
        url,
        {"progress": [{"goal": str(seen.pk), "note": "seen"}]},
        HTTP_IF_MATCH=read["ETag"],
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["progress"] == [{"goal": str(seen.pk), "note": "seen"}]
    review.refresh_from_db()
    assert {e["goal"]: e["note"] for e in review.progress} == {
        str(seen.pk): "seen",
        str(secret.pk): "hidden",
    }
