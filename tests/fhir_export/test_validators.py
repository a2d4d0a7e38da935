"""Every exported resource passes two independent validators: 0 errors (warnings are collected
into var/fhir-validator-warnings.json)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings

from fhir_export.auditevent import access_record, audit_event
from fhir_export.bundle import plan_bundle
from fhir_export.snapshot import PlanSnapshot
from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person
from plan_service.plans.export import plan_export, plan_snapshot
from plan_service.plans.models import Membership, Plan
from tests.fhir_export.samples import demo_snapshot
from tests.fhir_export.strategies import snapshots
from tests.harness.hypothesis_profiles import examples


def test_demo_like_snapshot_passes_both_validators(validator) -> None:
    assert validator.errors(plan_bundle(demo_snapshot())) == []


@settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(snapshots())
def test_generated_plans_of_every_shape_pass_both_validators(
    validator, snapshot: PlanSnapshot
) -> None:
    assert validator.errors(plan_bundle(snapshot)) == []


@pytest.mark.django_db
def test_demo_plans_pass_both_validators_for_every_member(validator) -> None:
    """The seeded demo region, exported by each lead and snapshotted for every team member."""
    call_command("seed_demo", stdout=io.StringIO())
    plans = list(Plan.objects.all())
    assert len(plans) == 3
    for plan in plans:
        lead = Membership.objects.get(plan=plan, role="lead", ended_at__isnull=True)
        bundle = plan_export(actor=lead.user, plan_id=plan.pk).bundle
        assert validator.errors(bundle) == []
        for member in Membership.objects.filter(plan=plan, ended_at__isnull=True):
            access = policy.plan_access(member.user, plan)
            assert access is not None
            assert validator.errors(plan_bundle(plan_snapshot(access))) == []


@pytest.mark.django_db
def test_access_log_rows_pass_both_validators_as_auditevents(validator) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    codes = dict(Person.objects.values_list("id", "identity_code"))
    rows = list(AccessEvent.objects.order_by("recorded_at", "chain", "seq")[:300])
    assert {r.action for r in rows} >= {"create", "update"}
    for row in rows:
        assert validator.errors(audit_event(access_record(row, codes))) == []


def test_the_validators_catch_a_wrong_reference_type_and_a_bad_code(validator) -> None:
    """The harness itself: a Goal about a CareTeam, and a status outside its value set."""
    bundle = plan_bundle(demo_snapshot())
    team = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "CareTeam")
    goal = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal")
    goal["subject"] = {"reference": team["fullUrl"]}
    goal["lifecycleStatus"] = "banana"
    messages = " ".join(i["message"] for i in validator.errors(bundle))
    assert "Invalid type for reference" in messages
    assert "banana" in messages
