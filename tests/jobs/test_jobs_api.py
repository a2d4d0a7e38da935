"""A job's progress and result through the API, for its owner only; run synchronously here."""

from __future__ import annotations

import json

import pytest

from plan_service.audit.models import Disclosure
from plan_service.jobs import services as jobs
from plan_service.jobs.models import BackgroundJob
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Goal
from tests import factories
from tests.jobs.helpers import FhirEndpoint

pytestmark = pytest.mark.django_db


def test_bulk_export_job_progress_and_result_are_the_owners(api, settings, tmp_path) -> None:
    settings.EXPORT_ROOT = str(tmp_path)
    lead = factories.professional("public_health_nurse")
    plans = [factories.plan(lead, factories.family(children=1, guardians=1)) for _ in range(3)]
    asked = api.as_user(lead.user).post("/api/v1/jobs/bulk-export/")
    assert asked.status_code == 202
    job_id = asked.json()["id"]
    assert asked.json()["status"] == "queued"
    jobs.run_bulk_export(job_id)  # what the worker does
    seen = api.as_user(lead.user).get(f"/api/v1/jobs/{job_id}/").json()
    assert seen["status"] == "succeeded"
    assert (seen["progress"], seen["total"]) == (3, 3)
    assert seen["result"]["plans"] == 3
    assert {f["type"] for f in seen["result"]["files"]} >= {"CarePlan", "Patient"}
    assert (tmp_path / job_id / "manifest.json").exists()
    persons = Person.objects.filter(family__in=[p.family_id for p in plans]).count()
    assert Disclosure.objects.filter(request_id=f"job:{job_id}").count() == persons
    other = factories.professional("public_health_nurse")
    assert api.as_user(other.user).get(f"/api/v1/jobs/{job_id}/").status_code == 404
    assert api.as_user(other.user).get("/api/v1/jobs/").json()["count"] == 0
    assert api.as_user(lead.user).get("/api/v1/jobs/").json()["count"] == 1


def test_push_job_answers_503_without_a_server_and_queues_with_one(api, settings) -> None:
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead)
    kanta = factories.recipient("repository", "health")
    url = f"/api/v1/plans/{plan.pk}/fhir/push-job/"
    client = api.as_user(lead.user)
    settings.FHIR_PUSH_BASE_URL = ""
    assert client.post(url, {"recipient": kanta.code}).status_code == 503
    settings.FHIR_PUSH_BASE_URL = "http://127.0.0.1:9/fhir"
    queued = client.post(url, {"recipient": kanta.code, "version": 0})
    assert queued.status_code == 400
    assert queued.json()["errors"][0]["field"] == "version"
    queued = client.post(url, {"recipient": kanta.code})
    assert queued.status_code == 202
    assert queued.json()["kind"] == "fhir_push"
    assert queued.json()["plan_id"] == str(plan.pk)
    job = BackgroundJob.objects.get(pk=queued.json()["id"])
    assert job.params == {"version": None, "recipient": kanta.code, "recipient_id": str(kanta.pk)}


@pytest.mark.parametrize("payload", [{}, {"recipient": "no-such-recipient"}, {"recipient": ""}])
def test_push_job_needs_a_known_recipient_like_the_push(api, settings, payload) -> None:
    settings.FHIR_PUSH_BASE_URL = "http://127.0.0.1:9/fhir"
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead)
    response = api.as_user(lead.user).post(f"/api/v1/plans/{plan.pk}/fhir/push-job/", payload)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "recipient"
    assert not BackgroundJob.objects.exists()


def test_a_recipients_own_server_needs_no_setting(api, settings) -> None:
    settings.FHIR_PUSH_BASE_URL = ""
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead)
    kanta = factories.recipient("repository", "health", fhir_base_url="http://127.0.0.1:9/fhir")
    response = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/fhir/push-job/", {"recipient": kanta.code}
    )
    assert response.status_code == 202, response.content


def test_push_job_sends_the_recipients_full_view_and_logs_it(api, settings) -> None:
    """The worker pushes what the recipient may receive, as the synchronous push does: the
    nurse's health goal goes to the health repository although the social-care lead who asked
    may not read it (and the lead's own download for that recipient does not show it)."""
    endpoint = FhirEndpoint([200])
    settings.FHIR_PUSH_BASE_URL = endpoint.url
    try:
        lead = factories.professional("child_protection_social_worker")
        nurse = factories.professional("public_health_nurse")
        plan = factories.plan(lead, factories.family(children=1, guardians=1))
        factories.add_member(plan, lead, nurse)
        for author, category in ((nurse, "health"), (lead, "social"), (lead, "general")):
            services.item_create(
                actor=author.user,
                plan_id=plan.pk,
                model=Goal,
                data={"category": category, "title": f"MARK-{category}", "desired_outcome": "o"},
            )
        kanta = factories.recipient("repository", "health")
        client = api.as_user(lead.user)
        asked = client.post(f"/api/v1/plans/{plan.pk}/fhir/push-job/", {"recipient": kanta.code})
        assert asked.status_code == 202, asked.content
        done = jobs.run_push(asked.json()["id"])  # what the worker does
        assert done.status == "succeeded", (done.error_code, done.error)
        (sent,) = endpoint.bodies
        text = json.dumps(sent, ensure_ascii=False)
        assert "MARK-health" in text
        assert "MARK-general" in text
        assert "MARK-social" not in text  # not the health repository's
        downloaded = client.get(f"/api/v1/plans/{plan.pk}/fhir/?recipient={kanta.code}")
        assert downloaded.status_code == 200
        assert b"MARK-general" in downloaded.content
        assert b"MARK-health" not in downloaded.content  # the lead may not read it
        pushed = Disclosure.objects.filter(request_id=f"job:{done.pk}")
        persons = Person.objects.filter(family_id=plan.family_id).count()
        assert pushed.count() == persons
        assert {d.basis for d in pushed} == {"statute:health"}
    finally:
        endpoint.close()


def test_daily_audit_job_writes_an_anchor_that_verifies(settings, tmp_path) -> None:
    import io
    import json

    from django.core.management import call_command

    from plan_service.jobs import tasks

    key = tmp_path / "keys" / "anchor.pem"  # anchors are signed (issue 12)
    call_command("audit_keygen", "-o", str(key), stdout=io.StringIO())
    settings.AUDIT_ANCHOR_KEY_FILE = str(key)
    settings.AUDIT_ANCHOR_DIR = str(tmp_path)
    settings.JOB_AUDIT_RETENTION = False  # the purge has its own tests (tests/audit)
    factories.plan(factories.professional())  # some log rows
    tasks.audit_anchor_and_retention.func.__wrapped__(timestamp=0)  # the body, in this transaction
    (anchor,) = tmp_path.glob("anchor-*.json")
    assert set(json.loads(anchor.read_text())["anchor"]["logs"]) == {"access", "disclosure"}
    call_command("audit_verify", anchor=str(anchor))  # raises when the anchor does not match
