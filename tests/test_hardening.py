"""Issue 13, the outside review: one regression test per finding (each failed on the old main).

Bad input is a 400 naming what was wrong and changes nothing; OPTIONS and TRACE never reach a
500 or the authentication step; every free-text field has a documented maximum; the OpenAPI
schema says what the service does; a consent admits only whom it was given for; registry
writes keep history and access-log rows.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from plan_service.consent.services import consent_create
from plan_service.participants.models import Guardianship, Organization, Professional
from plan_service.plans.models import Goal, Membership, Plan
from plan_service.text_limits import LONG_TEXT, NOTES_TEXT, SHORT_TEXT
from tests import factories
from tests.harness.fixtures import world  # noqa: F401 (fixture)
from tests.harness.permission_matrix import ENDPOINTS
from tests.rowcounts import table_counts

pytestmark = pytest.mark.django_db


def _fields(response) -> list[str | None]:
    return [e["field"] for e in response.json()["errors"]]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#
# Deeply nested JSON
#


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deeply_nested_json_to_the_sign_in_is_a_400_not_a_500(depth):
    response = Client().post(
        "/api/v1/auth/token/", data=_nested(depth), content_type="application/json"
    )
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] in ("too_deep", "parse_error")


def test_deeply_nested_json_in_a_field_after_sign_in_is_a_400_and_writes_nothing(api, world):  # noqa: F811
    side = world.sides["own"]
    client = api.as_user(world.user("lead"))
    before = table_counts()
    for body in (
        _nested(1_000),
        '{"category": "general", "title": ' + _nested(40) + "}",
        '{"category": "general", "title": "t", "concerns": ' + _nested(5_000) + "}",
    ):
        response = client.client.post(
            f"/api/v1/plans/{side.plan.pk}/needs/",
            data=body,
            content_type="application/json",
            **client.headers,
        )
        assert response.status_code == 400, response.content[:200]
    assert table_counts() == before


#
# OPTIONS, TRACE and the landing page
#


def test_options_with_a_valid_token_answers_on_every_route(api, world):  # noqa: F811
    client = api.as_user(world.user("lead"))
    side = world.sides["own"]
    paths = {ep.path(world, side).split("?")[0] for ep in ENDPOINTS} | {"/api/v1/auth/token/"}
    assert f"/api/v1/plans/{side.plan.pk}/fhir/push/" in paths
    for path in sorted(paths):
        response = client.request("OPTIONS", path)
        assert response.status_code in (200, 404), (path, response.content[:200])
        assert response.status_code < 500


@pytest.mark.parametrize("signed_in", [False, True])
def test_trace_is_405_for_everyone(api, world, signed_in):  # noqa: F811
    client = api.as_user(world.user("lead")) if signed_in else api
    for path in ("/api/v1/plans/", "/api/v1/auth/token/", "/healthz", "/"):
        response = client.client.generic("TRACE", path, **client.headers)
        assert response.status_code == 405, path
        assert "TRACE" not in response["Allow"]


def test_the_root_is_no_debug_404_but_the_sign_in_page():
    response = Client().get("/")
    assert response.status_code == 200  # the pages' sign-in (issue 16)
    assert b'name="password"' in response.content


#
# Text limits
#

TEXT_LIMITS = [
    ("goals", "desired_outcome", SHORT_TEXT),
    ("goals", "evidence", SHORT_TEXT),
    ("needs", "description", LONG_TEXT),
    ("actions", "description", SHORT_TEXT),
    ("reviews", "notes", NOTES_TEXT),
    ("comments", "text", LONG_TEXT),
    ("dissents", "text", LONG_TEXT),
]


def _create_payload(world, side, kind):  # noqa: F811
    ep = next(e for e in ENDPOINTS if e.name == f"{kind} create general")
    return ep.payload(world, side)


@pytest.mark.parametrize(("kind", "field", "limit"), TEXT_LIMITS)
def test_text_beyond_its_maximum_is_a_400_naming_the_field(api, world, kind, field, limit):  # noqa: F811
    side = world.sides["own"]
    author = "guardian" if kind in ("comments", "dissents") else "lead"
    client = api.as_user(world.user(author))
    url = f"/api/v1/plans/{side.plan.pk}/{kind}/"
    payload = _create_payload(world, side, kind)
    before = table_counts()
    for size in (limit + 1, 1_000_000):
        response = client.post(url, {**payload, field: "x" * size})
        assert response.status_code == 400, response.content[:300]
        assert _fields(response) == [field]
        assert response.json()["errors"][0]["code"] == "max_length"
    assert table_counts() == before
    response = client.post(url, {**payload, field: "y" * limit})
    assert response.status_code == 201, response.content[:300]


def test_plan_summary_beyond_its_maximum_is_a_400(api, world):  # noqa: F811
    side = world.sides["own"]
    client = api.as_user(world.user("lead"))
    response = client.patch(
        f"/api/v1/plans/{side.plan.pk}/",
        {"summary": "x" * (LONG_TEXT + 1)},
        HTTP_IF_MATCH=f'W/"{side.plan.version}"',
    )
    assert response.status_code == 400
    assert _fields(response) == ["summary"]
    assert Plan.objects.get(pk=side.plan.pk).version == side.plan.version


def test_limits_are_documented_in_the_schema():
    schema = Client().get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["GoalInputRequest"]["properties"]["desired_outcome"]["maxLength"] == SHORT_TEXT
    assert schema["CommentInputRequest"]["properties"]["text"]["maxLength"] == LONG_TEXT
    assert schema["PatchedPlanUpdateRequest"]["properties"]["summary"]["maxLength"] == LONG_TEXT


#
# Paging and numbers
#


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=100000", "page_size"),
        ("page_size=0", "page_size"),
        ("page=-1", "page"),
        ("page=0", "page"),
        (f"page={10**40}", "page"),
        ("page=99", "page"),
        ("page=abc", "page"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(api, world, query, field):  # noqa: F811
    client = api.as_user(world.user("lead"))
    side = world.sides["own"]
    for path in ("/api/v1/plans/", f"/api/v1/plans/{side.plan.pk}/needs/"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.content[:200])
        assert _fields(response) == [field]


def test_good_paging_still_works(api, world):  # noqa: F811
    client = api.as_user(world.user("lead"))
    side = world.sides["own"]
    response = client.get(f"/api/v1/plans/{side.plan.pk}/needs/?page_size=1&page=2")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    assert client.get(f"/api/v1/plans/{side.plan.pk}/needs/?page_size=200").status_code == 200


def test_an_acknowledgement_of_an_impossible_version_is_a_400_naming_version(api, world):  # noqa: F811
    side = world.sides["own"]
    client = api.as_user(world.user("guardian"))
    response = client.post(
        f"/api/v1/plans/{side.plan.pk}/acknowledgements/",
        {"version": 10**40, "decision": "agree"},
    )
    assert response.status_code == 400
    assert _fields(response) == ["version"]


#
# The schema's word
#


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _op(schema, path, method):
    return schema["paths"][path][method]


def _ok_schema(schema, path, method="get"):
    return _op(schema, path, method)["responses"]["200"]["content"]["application/json"]["schema"]


def test_me_and_verify_are_not_declared_paginated(schema):
    assert _ok_schema(schema, "/api/v1/me/") == {"$ref": "#/components/schemas/Me"}
    verify = _ok_schema(schema, "/api/v1/audit/verify/")
    assert verify["type"] == "array"
    assert not {"page", "page_size"} & {
        p["name"] for p in _op(schema, "/api/v1/audit/verify/", "get").get("parameters", [])
    }


def test_nullable_member_fields_are_declared_nullable(schema, api, world):  # noqa: F811
    properties = schema["components"]["schemas"]["MembershipOutput"]["properties"]
    assert properties["organization"]["nullable"] is True
    assert properties["professional_role"]["nullable"] is True
    side = world.sides["own"]
    rows = api.as_user(world.user("lead")).get(f"/api/v1/plans/{side.plan.pk}/members/").json()
    family_rows = [r for r in rows["results"] if r["role"] == "family"]
    assert family_rows
    assert family_rows[0]["organization"] is None


def test_restore_and_restrict_declare_the_item_they_answer(schema):
    for action in ("restore", "restrict"):
        path = f"/api/v1/plans/{{plan_pk}}/goals/{{id}}/{action}/"
        assert _ok_schema(schema, path, "post") == {"$ref": "#/components/schemas/GoalOutput"}


def test_fhir_export_declares_both_content_types_it_serves(schema, api, world):  # noqa: F811
    content = _op(schema, "/api/v1/plans/{plan_pk}/fhir/", "get")["responses"]["200"]["content"]
    assert set(content) == {"application/fhir+json", "application/json"}
    side = world.sides["own"]
    client = api.as_user(world.user("lead"))
    plain = client.get(f"/api/v1/plans/{side.plan.pk}/fhir/?format=json")
    assert plain.status_code == 200
    assert plain["Content-Type"].split(";")[0] in content


def test_every_operation_declares_503_and_414_and_the_sign_in_429(schema):
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]
    assert len(operations) > 50
    for path, method, op in operations:
        assert {"503", "414"} <= set(op["responses"]), (path, method)
        assert "Retry-After" in op["responses"]["503"]["headers"]
    assert "429" in _op(schema, "/api/v1/auth/token/", "post")["responses"]


#
# A consent admits only whom it was given for
#


def test_a_member_on_a_consent_to_another_sector_is_refused_naming_basis(api, world):  # noqa: F811
    side = world.sides["own"]  # the world's consent is addressed to the education sector
    client = api.as_user(world.user("lead"))
    before = table_counts()
    response = client.post(
        f"/api/v1/plans/{side.plan.pk}/members/",
        {"professional": str(world.joiner.pk), "basis": "consent", "consent": str(side.consent_id)},
    )
    assert response.status_code == 400, response.content
    assert _fields(response) == ["basis"]
    assert table_counts() == before
    nurse = api.as_user(world.joiner.user)
    assert nurse.get(f"/api/v1/plans/{side.plan.pk}/").status_code == 404


def test_a_member_on_a_matching_consent_is_admitted_until_the_consent_ends(api, world):  # noqa: F811
    side = world.sides["own"]
    teacher = factories.professional("ece_teacher", factories.organization("education"))
    client = api.as_user(world.user("lead"))
    response = client.post(
        f"/api/v1/plans/{side.plan.pk}/members/",
        {"professional": str(teacher.pk), "basis": "consent", "consent": str(side.consent_id)},
    )
    assert response.status_code == 201, response.content
    assert api.as_user(teacher.user).get(f"/api/v1/plans/{side.plan.pk}/").status_code == 200


def test_a_membership_outlasting_its_consent_is_refused_naming_basis(api, world):  # noqa: F811
    side = world.sides["own"]
    consent = consent_create(
        actor=world.user("guardian"),
        family=side.plan.family,
        grantor_id=None,
        subject_ids=[world.child_person.pk],
        categories=["health"],
        purpose="short",
        recipient_organization=world.joiner.organization,
        valid_until=timezone.now() + dt.timedelta(days=30),
    )
    client = api.as_user(world.user("lead"))
    url = f"/api/v1/plans/{side.plan.pk}/members/"
    body = {"professional": str(world.joiner.pk), "basis": "consent", "consent": str(consent.pk)}
    too_long = (timezone.now() + dt.timedelta(days=60)).isoformat()
    response = client.post(url, {**body, "valid_until": too_long})
    assert response.status_code == 400
    assert _fields(response) == ["basis"]
    response = client.post(url, body)  # no end given: the place ends with the consent
    assert response.status_code == 201, response.content
    membership = Membership.objects.get(pk=response.json()["id"])
    assert membership.valid_until == consent.valid_until


def test_a_withdrawn_consent_admits_no_one(api, world):  # noqa: F811
    side = world.sides["own"]
    teacher = factories.professional("teacher", factories.organization("education"))
    guardian = api.as_user(world.user("guardian"))
    withdrawn = guardian.post(f"/api/v1/consents/{side.consent_id}/withdraw/", {"reason": "no"})
    assert withdrawn.status_code == 200
    response = api.as_user(world.user("lead")).post(
        f"/api/v1/plans/{side.plan.pk}/members/",
        {"professional": str(teacher.pk), "basis": "consent", "consent": str(side.consent_id)},
    )
    assert response.status_code == 400
    assert _fields(response) == ["basis"]


#
# Registry history and access log
#


def test_an_organisation_registered_by_an_administrator_has_history_and_a_log_row(api, world):  # noqa: F811
    admin = world.user("admin")
    response = api.as_user(admin).post(
        "/api/v1/organizations/", {"name": "Uusi", "oid": "1.2.246.10.99.1", "sector": "health"}
    )
    assert response.status_code == 201
    organization = Organization.objects.get(pk=response.json()["id"])
    (row,) = organization.history.all()
    assert (row.history_type, row.history_user_id) == ("+", admin.pk)
    log = AccessEvent.objects.get(object_type="organization", object_id=str(organization.pk))
    assert (log.action, log.actor_user_id) == ("create", admin.pk)


def test_a_professional_registered_by_an_administrator_has_a_log_row(api, world):  # noqa: F811
    admin = world.user("admin")
    response = api.as_user(admin).post(
        "/api/v1/professionals/",
        {
            "username": "uusi.ammattilainen",
            "first_name": "U",
            "last_name": "A",
            "email": "u@example.org",
            "organization": str(world.organization_id),
            "role": "teacher",
        },
    )
    assert response.status_code == 201
    professional = Professional.objects.get(pk=response.json()["id"])
    assert professional.history.get().history_user_id == admin.pk
    log = AccessEvent.objects.get(object_type="professional", object_id=str(professional.pk))
    assert log.actor_user_id == admin.pk


def test_guardianships_keep_history_with_who_registered_them(api, world):  # noqa: F811
    lead = world.user("lead")
    ep = next(e for e in ENDPOINTS if e.name == "families create")
    response = api.as_user(lead).post("/api/v1/families/", ep.payload(world, world.sides["own"]))
    assert response.status_code == 201
    guardianship = Guardianship.objects.get(child__family_id=response.json()["id"])
    (row,) = guardianship.history.all()
    assert (row.history_type, row.history_user_id) == ("+", lead.pk)


def test_nothing_is_stored_when_a_goal_write_is_refused(api, world):  # noqa: F811
    side = world.sides["own"]
    client = api.as_user(world.user("lead"))
    goals = Goal.objects.count()
    body = json.dumps({"category": "general", "title": "t", "desired_outcome": "\ud800"})
    response = client.client.post(
        f"/api/v1/plans/{side.plan.pk}/goals/",
        data=body.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        **client.headers,
    )
    assert response.status_code == 400
    assert Goal.objects.count() == goals
