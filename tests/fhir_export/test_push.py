"""Pushing a plan to a real FHIR engine (tests/fhir_export/node/server.js, started by the tests)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from plan_service.audit.models import Disclosure
from plan_service.participants.models import Person
from plan_service.plans import export, services
from plan_service.plans.models import Goal, Plan, PushRecord
from tests import factories
from tests.fhir_export.resolve import bulk_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings, fhir_server) -> Any:
    settings.FHIR_PUSH_BASE_URL = fhir_server.base_url
    settings.FHIR_PUSH_BACKOFF_MS = 10
    settings.FHIR_PUSH_ATTEMPTS = 4
    settings.FHIR_PUSH_TIMEOUT_SECONDS = 10
    fhir_server.hook("fail", status=200, count=0)
    fhir_server.hook("drop", count=0)
    fhir_server.hook("respond", count=0)
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead, factories.family(children=2, guardians=1))
    services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "health", "title": "Uni", "desired_outcome": "Nukkuu"},
    )
    plan = Plan.objects.get(pk=plan.pk)
    plan.kanta = factories.recipient("repository", "health")  # type: ignore[attr-defined]
    return lead, plan, fhir_server


def push_url(plan: Plan) -> str:
    return f"/api/v1/plans/{plan.pk}/fhir/push/"


def body(plan: Plan, **extra: Any) -> dict[str, Any]:
    return {"recipient": plan.kanta.code, **extra}  # type: ignore[attr-defined]


def requests(server: Any) -> int:
    return server.hook("requests")["requests"]


def test_pushed_plan_is_accepted_and_reads_back_as_sent(api, setup) -> None:
    lead, plan, server = setup
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 200, response.content
    assert response.json()["attempts"] == 1
    bundle = export.plan_export(actor=lead.user, plan_id=plan.pk, recipient=plan.kanta).bundle
    types = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }
    for entry in bundle["entry"]:
        sent = bulk_resource(entry["resource"], types)  # urn:uuid -> Type/id, as the server does
        stored = server.get(entry["request"]["url"])
        assert stored.status_code == 200, entry["request"]["url"]
        stored_body = stored.json()
        stored_body.pop("meta", None)
        sent.pop("meta", None)  # the server owns meta (versionId, lastUpdated)
        assert stored_body == sent


def test_repeating_a_push_creates_no_duplicates(api, setup) -> None:
    lead, plan, server = setup
    client = api.as_user(lead.user)
    assert client.post(push_url(plan), body(plan)).status_code == 200
    assert client.post(push_url(plan), body(plan)).status_code == 200
    found = server.get("CarePlan").json()
    mine = [
        e for e in found.get("entry", []) if e["resource"]["identifier"][0]["value"] == str(plan.pk)
    ]
    assert len(mine) == 2  # one per child, however often pushed


def test_accepted_push_logs_one_disclosure_per_person(api, setup) -> None:
    lead, plan, server = setup
    assert api.as_user(lead.user).post(push_url(plan), body(plan)).status_code == 200
    rows = Disclosure.objects.filter(plan_id=plan.pk)
    people = set(Person.objects.filter(family=plan.family).values_list("pk", flat=True))
    assert {r.subject_id for r in rows} == people
    assert rows.count() == len(people)
    label = f"{plan.kanta.name} ({plan.kanta.code})"
    assert {r.recipient for r in rows} == {f"FHIR push to {label} at {server.base_url}"}
    assert {r.recipient_organization_id for r in rows} == {None}
    assert {r.basis for r in rows} == {"statute:health"}


def test_refused_bundle_gives_a_clear_error_and_no_disclosure(api, setup, monkeypatch) -> None:
    lead, plan, server = setup
    real = export.plan_bundle

    def broken(snapshot: Any, **kw: Any) -> dict:
        bundle = real(snapshot, **kw)
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "CarePlan":
                del entry["resource"]["intent"]  # required in R4: the server must refuse
        return bundle

    monkeypatch.setattr(export, "plan_bundle", broken)
    before = requests(server)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 502
    answer = response.json()
    assert answer["errors"][0]["code"] == "fhir_refused"
    assert "intent" in answer["errors"][0]["message"]
    assert answer["server_status"] == 400
    assert answer["operation_outcome"]["resourceType"] == "OperationOutcome"
    assert requests(server) == before + 1  # a 4xx is not retried
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()
    care_plan = next(
        e
        for e in real(export.plan_snapshot(_access(lead, plan)))["entry"]  # same ids
        if e["resource"]["resourceType"] == "CarePlan"
    )
    assert server.get(care_plan["request"]["url"]).status_code == 404


def _access(lead: Any, plan: Plan) -> Any:
    from plan_service import policy

    return policy.plan_access(lead.user, plan)


def test_server_errors_are_retried_with_backoff_until_accepted(api, setup) -> None:
    lead, plan, server = setup
    server.hook("fail", status=503, count=2)
    before = requests(server)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 200, response.content
    assert response.json()["attempts"] == 3
    assert requests(server) == before + 3


def test_network_errors_are_retried(api, setup) -> None:
    lead, plan, server = setup
    server.hook("drop", count=1)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 200, response.content
    assert response.json()["attempts"] == 2


def test_client_errors_are_not_retried(api, setup) -> None:
    lead, plan, server = setup
    server.hook("fail", status=422, count=5)
    before = requests(server)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    server.hook("fail", status=200, count=0)
    assert response.status_code == 502
    assert response.json()["server_status"] == 422
    assert requests(server) == before + 1
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()


def test_a_server_down_on_every_attempt_gives_up_without_disclosure(api, setup) -> None:
    lead, plan, server = setup
    server.hook("fail", status=503, count=10)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    server.hook("fail", status=200, count=0)
    assert response.status_code == 502
    answer = response.json()
    assert answer["errors"][0]["code"] == "fhir_unavailable"
    assert answer["attempts"] == 4
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()


def test_push_without_a_configured_server_answers_503(api, setup, settings) -> None:
    lead, plan, _ = setup
    settings.FHIR_PUSH_BASE_URL = ""
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "fhir_push_not_configured"


def test_member_without_export_rights_cannot_push(api, setup) -> None:
    lead, plan, server = setup
    member = factories.professional("teacher")
    factories.add_member(plan, lead, member)
    before = requests(server)
    assert api.as_user(member.user).post(push_url(plan), body(plan)).status_code == 403
    stranger = factories.professional("teacher")
    assert api.as_user(stranger.user).post(push_url(plan), body(plan)).status_code == 404
    assert requests(server) == before


def test_push_command_reports_acceptance_and_refusal(setup, monkeypatch) -> None:
    lead, plan, server = setup
    out = io.StringIO()
    code = plan.kanta.code
    call_command(
        "fhir_push",
        "--actor",
        lead.user.username,
        "--plan",
        str(plan.pk),
        "--recipient",
        code,
        stdout=out,
    )
    assert "Accepted by" in out.getvalue()
    assert "CarePlan/" in out.getvalue()
    server.hook("fail", status=400, count=1)
    err = io.StringIO()
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "fhir_push",
            "--actor",
            lead.user.username,
            "--plan",
            str(plan.pk),
            "--recipient",
            code,
            stderr=err,
        )
    assert "injected failure" in err.getvalue()


def test_rights_are_checked_before_the_configuration(api, setup, settings) -> None:
    lead, plan, _ = setup
    settings.FHIR_PUSH_BASE_URL = ""
    member = factories.professional("teacher")
    factories.add_member(plan, lead, member)
    assert api.as_user(member.user).post(push_url(plan), body(plan)).status_code == 403
    stranger = factories.professional("teacher")
    assert api.as_user(stranger.user).post(push_url(plan), body(plan)).status_code == 404


#
# Issue 13: a push is a success only when the server proves it applied the transaction.
#


@pytest.mark.parametrize(
    ("content_type", "reply"),
    [
        ("text/html", "<html><body>Welcome to our portal</body></html>"),
        ("application/fhir+json", '{"resourceType":"Bundle","type":"searchset","total":0}'),
        ("application/fhir+json", '{"resourceType":"Bundle","type":"transaction-response"}'),
        ("application/fhir+json", ""),
    ],
    ids=["html-200", "searchset-200", "no-entries-200", "empty-200"],
)
def test_a_200_that_is_no_transaction_response_is_a_failure(
    api, setup, content_type, reply
) -> None:
    lead, plan, server = setup
    server.hook("respond", status=200, contentType=content_type, body=reply, count=1)
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 502, response.content
    assert response.json()["errors"][0]["code"] == "fhir_bad_response"
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()
    assert not PushRecord.objects.filter(plan_id=plan.pk).exists()


def test_an_entry_refused_inside_a_200_is_a_failure(api, setup) -> None:
    lead, plan, server = setup
    bundle = export.plan_export(actor=lead.user, plan_id=plan.pk, recipient=plan.kanta).bundle
    before = Disclosure.objects.filter(plan_id=plan.pk).count()
    answers = [{"response": {"status": "201 Created"}} for _ in bundle["entry"]]
    answers[-1] = {"response": {"status": "400 Bad Request"}}
    reply = {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
    server.hook(
        "respond", status=200, contentType="application/fhir+json", body=json.dumps(reply), count=1
    )
    response = api.as_user(lead.user).post(push_url(plan), body(plan))
    assert response.status_code == 502
    assert response.json()["errors"][0]["code"] == "fhir_refused"
    assert Disclosure.objects.filter(plan_id=plan.pk).count() == before


def test_pushing_an_older_version_than_the_server_holds_is_refused(api, setup) -> None:
    lead, plan, server = setup
    client = api.as_user(lead.user)
    assert client.post(push_url(plan), body(plan)).status_code == 200
    current = Plan.objects.get(pk=plan.pk).version
    assert current > 1
    before = requests(server)
    response = client.post(push_url(plan), body(plan, version=1))
    assert response.status_code == 409, response.content
    error = response.json()["errors"][0]
    assert error["field"] == "version"
    assert error["code"] == "older_than_pushed"
    assert requests(server) == before  # nothing was sent
    care_plans = [
        e["resource"]
        for e in server.get("CarePlan").json().get("entry", [])
        if e["resource"]["identifier"][0]["value"] == str(plan.pk)
    ]
    assert {cp["status"] for cp in care_plans} == {"active"}  # not back to draft
    goals = server.get("Goal").json().get("entry", [])
    assert any(g["resource"]["description"]["text"] == "Uni" for g in goals)
    # The same version again is fine (idempotent), and so is a newer one.
    assert client.post(push_url(plan), body(plan, version=current)).status_code == 200


def test_unknown_or_missing_recipient_is_a_400_naming_it(api, setup) -> None:
    lead, plan, server = setup
    before = requests(server)
    client = api.as_user(lead.user)
    for payload in ({}, {"recipient": "no-such-recipient"}, {"recipient": "x" * 500}):
        response = client.post(push_url(plan), payload)
        assert response.status_code == 400, payload
        assert response.json()["errors"][0]["field"] == "recipient"
    assert requests(server) == before
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()
