"""Emergency ("break-glass") access: who may open, what it shows, for how long, who is told,
how every log row says so, the auditor's review queue and the family's own access log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from plan_service.emergency.models import EmergencyAccess
from plan_service.notifications.models import Notification
from plan_service.plans import services
from plan_service.plans.models import Need
from tests import factories

pytestmark = pytest.mark.django_db

REASON = {"reason_code": "child_safety", "reason_text": "Police called at night; team unreachable"}


@pytest.fixture
def scene() -> dict[str, Any]:
    org = factories.organization("social")
    lead = factories.professional("child_protection_social_worker", org)
    fam = factories.family(children=1, guardians=1)
    plan = factories.plan(lead, fam)
    guardian = factories.link(fam.members.get(kind="guardian"))
    services.family_sync(plan=plan, actor=lead.user)
    for category in ("general", "social", "family"):
        services.item_create(
            actor=lead.user,
            plan_id=plan.pk,
            model=Need,
            data={"category": category, "title": f"need {category}"},
        )
    nurse = factories.professional("public_health_nurse", org)
    factories.add_member(plan, lead, nurse)
    services.item_create(
        actor=nurse.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "health", "title": "need health"},
    )
    er = factories.organization("health", emergency_access_allowed=True)
    doctor = factories.professional("school_doctor", er)
    er_auditor = factories.professional("auditor", er)
    other_auditor = factories.professional("auditor", org)
    closed = factories.organization("health")
    blocked = factories.professional("school_doctor", closed)
    return {
        "plan": plan,
        "lead": lead,
        "nurse": nurse,
        "guardian": guardian,
        "doctor": doctor,
        "er_auditor": er_auditor,
        "other_auditor": other_auditor,
        "blocked": blocked,
    }


def url(plan: Any) -> str:
    return f"/api/v1/plans/{plan.pk}/emergency-access/"


def open_(api: Any, scene: dict[str, Any]) -> Any:
    return api.as_user(scene["doctor"].user).post(url(scene["plan"]), REASON)


def test_only_an_allowed_organisation_may_open_and_the_input_is_checked(api, scene) -> None:
    plan = scene["plan"]
    assert api.as_user(scene["blocked"].user).post(url(plan), REASON).status_code == 403
    assert api.as_user(scene["er_auditor"].user).post(url(plan), REASON).status_code == 403
    bad = api.as_user(scene["doctor"].user).post(url(plan), {**REASON, "reason_code": "curious"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "reason_code"
    missing = api.as_user(scene["doctor"].user).post(
        f"/api/v1/plans/{scene['doctor'].pk}/emergency-access/", REASON
    )
    assert missing.status_code == 404
    member = api.as_user(scene["nurse"].user).post(url(plan), REASON)
    assert member.status_code == 403  # the nurse's organisation may not use it
    scene["nurse"].organization.emergency_access_allowed = True
    scene["nurse"].organization.save()
    assert api.as_user(scene["nurse"].user).post(url(plan), REASON).status_code == 409
    assert not EmergencyAccess.objects.exists()


def test_opening_shows_only_the_sector_categories_read_only(api, scene) -> None:
    plan = scene["plan"]
    doctor = api.as_user(scene["doctor"].user)
    assert doctor.get(f"/api/v1/plans/{plan.pk}/").status_code == 404  # before: invisible
    opened = open_(api, scene)
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert body["read_categories"] == ["general", "health"]
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs((expires - timezone.now()) - dt.timedelta(hours=4)) < dt.timedelta(minutes=1)
    assert doctor.get(f"/api/v1/plans/{plan.pk}/").status_code == 200
    needs = doctor.get(f"/api/v1/plans/{plan.pk}/needs/").json()["results"]
    assert sorted(n["category"] for n in needs) == ["general", "health"]
    write = doctor.post(f"/api/v1/plans/{plan.pk}/needs/", {"category": "health", "title": "x"})
    assert write.status_code == 403
    assert doctor.get(f"/api/v1/plans/{plan.pk}/fhir/").status_code == 403
    again = open_(api, scene)  # an opening in force is returned, not doubled
    assert again.status_code == 200
    assert EmergencyAccess.objects.count() == 1


def test_every_log_row_of_the_access_is_marked_emergency(api, scene) -> None:
    plan = scene["plan"]
    assert open_(api, scene).status_code == 201
    doctor = api.as_user(scene["doctor"].user)
    doctor.get(f"/api/v1/plans/{plan.pk}/")
    doctor.get(f"/api/v1/plans/{plan.pk}/needs/")
    doctor.get(f"/api/v1/plans/{plan.pk}/goals/")
    rows = AccessEvent.objects.filter(
        actor_user_id=scene["doctor"].user.pk, plan_id=plan.pk, outcome="success"
    )
    assert rows.count() >= 4
    assert set(rows.values_list("purpose", flat=True)) == {"emergency"}
    assert all(
        b.startswith("emergency:child_safety:") for b in rows.values_list("legal_basis", flat=True)
    )
    assert set(rows.values_list("actor_plan_role", flat=True)) == {"emergency"}


def test_access_ends_by_the_clock_without_a_job(api, scene) -> None:
    plan = scene["plan"]
    assert open_(api, scene).status_code == 201
    doctor = api.as_user(scene["doctor"].user)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3, minutes=59)):
        assert doctor.get(f"/api/v1/plans/{plan.pk}/needs/").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=4, minutes=1)):
        assert doctor.get(f"/api/v1/plans/{plan.pk}/").status_code == 404
        assert doctor.get(f"/api/v1/plans/{plan.pk}/needs/").status_code == 404


def test_withdrawing_the_organisation_flag_ends_an_opening_at_once(api, scene) -> None:
    plan = scene["plan"]
    assert open_(api, scene).status_code == 201
    org = scene["doctor"].organization
    org.emergency_access_allowed = False
    org.save()
    assert api.as_user(scene["doctor"].user).get(f"/api/v1/plans/{plan.pk}/").status_code == 404


def test_lead_and_the_organisations_auditor_are_told_at_once(api, scene) -> None:
    assert open_(api, scene).status_code == 201
    told = set(
        Notification.objects.filter(kind="emergency_access").values_list("recipient_id", flat=True)
    )
    assert told == {scene["lead"].user.pk, scene["er_auditor"].user.pk}
    listed = api.as_user(scene["lead"].user).get("/api/v1/notifications/").json()["results"]
    assert "emergency_access" in [n["kind"] for n in listed]


def test_review_queue_accept_and_flag(api, scene) -> None:
    assert open_(api, scene).status_code == 201
    grant = EmergencyAccess.objects.get()
    auditor = api.as_user(scene["er_auditor"].user)
    queue = auditor.get("/api/v1/audit/emergency-access/", {"review_status": "pending"}).json()
    assert [g["id"] for g in queue["results"]] == [str(grant.pk)]
    assert queue["results"][0]["reason_text"] == REASON["reason_text"]
    # The lead's organisation's auditor does not review another organisation's openings.
    other = api.as_user(scene["other_auditor"].user)
    assert other.get("/api/v1/audit/emergency-access/").json()["count"] == 0
    review = f"/api/v1/audit/emergency-access/{grant.pk}/review/"
    assert other.post(review, {"decision": "accepted"}).status_code == 404
    assert (
        api.as_user(scene["doctor"].user).post(review, {"decision": "accepted"}).status_code == 403
    )
    bad = auditor.post(review, {"decision": "maybe"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "decision"
    flagged = auditor.post(review, {"decision": "flagged", "note": "no emergency on record"})
    assert flagged.status_code == 200
    assert flagged.json()["review_status"] == "flagged"
    assert auditor.post(review, {"decision": "accepted"}).status_code == 409
    assert (
        auditor.get("/api/v1/audit/emergency-access/", {"review_status": "pending"}).json()["count"]
        == 0
    )
    grant.refresh_from_db()
    assert grant.reviewed_by_id == scene["er_auditor"].user.pk
    assert grant.history.count() == 2  # opened, reviewed
    reviewed = AccessEvent.objects.filter(object_type="emergencyaccess", action="update")
    assert reviewed.count() == 2  # one row per person of the family
    assert set(reviewed.values_list("object_id", flat=True)) == {str(grant.pk)}


def test_the_family_sees_the_emergency_access_in_its_log(api, scene) -> None:
    plan = scene["plan"]
    assert open_(api, scene).status_code == 201
    api.as_user(scene["doctor"].user).get(f"/api/v1/plans/{plan.pk}/needs/")
    log = api.as_user(scene["guardian"]).get(f"/api/v1/plans/{plan.pk}/access-log/").json()
    emergency = [r for r in log["results"] if r["emergency"]]
    assert {r["action"] for r in emergency} >= {"create", "search"}
    assert {r["legal_basis"] for r in emergency} == {"emergency"}
    assert all(r["organization"] == scene["doctor"].organization.name for r in emergency)
    assert not [
        r
        for r in log["results"]
        if not r["emergency"] and r["who"] == scene["doctor"].user.get_full_name()
    ]
