"""Jobs run by a real worker process against PostgreSQL (committed data, `live_db`).

* a push that fails twice (HTTP 503) then succeeds, retried by the queue;
* a push whose worker is killed mid-run is retried by another worker and logs its disclosure once;
* a job asked for in a transaction that rolls back never runs (and one that commits does).
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection, transaction

from plan_service.audit.models import Disclosure
from plan_service.jobs import services as jobs
from plan_service.jobs.models import BackgroundJob
from plan_service.participants.models import Person
from plan_service.plans.models import PushRecord
from tests import factories
from tests.jobs.helpers import FhirEndpoint, run_one_shot, wait_for, worker


def _plan():
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead, factories.family(children=2, guardians=1))
    return lead, plan


def _kanta():
    return factories.recipient("repository", "health")


def _job(pk) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=pk)


def _disclosures(job: BackgroundJob) -> int:
    return Disclosure.objects.filter(request_id=f"job:{job.pk}").count()


def test_push_that_fails_twice_then_succeeds(live_db, settings) -> None:
    endpoint = FhirEndpoint([503, 503, 200])
    settings.FHIR_PUSH_BASE_URL = endpoint.url
    try:
        lead, plan = _plan()
        kanta = _kanta()
        job = jobs.enqueue_push(actor=lead.user, plan_id=plan.pk, recipient=kanta, version=None)
        with worker("--queue", "exports", FHIR_PUSH_BASE_URL=endpoint.url):
            wait_for(lambda: _job(job.pk).status == "succeeded", what="the push to succeed")
        done = _job(job.pk)
        assert endpoint.requests == 3
        assert done.attempts == 3
        assert done.result["server_status"] == 200
        assert done.result["recipient"] == kanta.code
        persons = Person.objects.filter(family_id=plan.family_id).count()
        assert _disclosures(done) == persons  # one row per person, once
        labels = set(Disclosure.objects.filter(request_id=f"job:{job.pk}").values_list("recipient"))
        assert labels == {(f"FHIR push to {kanta.name} ({kanta.code}) at {endpoint.url}",)}
        record = PushRecord.objects.get(plan_id=plan.pk, base_url=endpoint.url)
        assert (record.recipient_id, record.version) == (kanta.pk, done.result["plan_version"])
    finally:
        endpoint.close()


def test_killed_push_is_retried_without_a_duplicate_disclosure(live_db, settings) -> None:
    endpoint = FhirEndpoint(["hang", 200])
    settings.FHIR_PUSH_BASE_URL = endpoint.url
    try:
        lead, plan = _plan()
        kanta = _kanta()
        job = jobs.enqueue_push(actor=lead.user, plan_id=plan.pk, recipient=kanta, version=None)
        with worker("--queue", "exports", FHIR_PUSH_BASE_URL=endpoint.url) as first:
            assert endpoint.received.wait(60), "the first worker never pushed"
            first.send_signal(signal.SIGKILL)  # dies mid-push, before anything is logged
            first.wait()
        assert _job(job.pk).status == "running"
        assert _disclosures(_job(job.pk)) == 0
        time.sleep(2.5)  # its heartbeat is now older than JOB_STALLED_SECONDS
        endpoint.release.set()
        with worker("--queue", "exports", FHIR_PUSH_BASE_URL=endpoint.url):
            wait_for(lambda: _job(job.pk).status == "succeeded", what="the retried push")
        done = _job(job.pk)
        assert endpoint.requests == 2
        persons = Person.objects.filter(family_id=plan.family_id).count()
        assert _disclosures(done) == persons
        # A run that finds the job done logs nothing again (the idempotency marker).
        jobs.run_push(job.pk)
        assert _disclosures(done) == persons
    finally:
        endpoint.close()


def _queued(queue_job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE id = %s", [queue_job_id])
        return cursor.fetchone()[0] == 1


class RollbackError(Exception):
    pass


def _ask_then_fail(lead, asked: list[BackgroundJob]) -> None:
    with transaction.atomic():
        asked.append(jobs.enqueue_bulk_export(actor=lead.user))
        assert _queued(asked[0].queue_job_id)  # queued inside the transaction...
        raise RollbackError


def test_job_asked_for_in_a_rolled_back_transaction_never_runs(live_db) -> None:
    lead, plan = _plan()
    asked: list[BackgroundJob] = []
    with pytest.raises(RollbackError):
        _ask_then_fail(lead, asked)
    kept = jobs.enqueue_bulk_export(actor=lead.user)  # the control: committed, so it runs
    assert not _queued(asked[0].queue_job_id)
    run_one_shot()
    assert not BackgroundJob.objects.filter(pk=asked[0].pk).exists()
    assert _disclosures(asked[0]) == 0
    assert _job(kept.pk).status == "succeeded"
    assert _job(kept.pk).result["plans"] == 1
    assert _disclosures(kept) == Person.objects.filter(family_id=plan.family_id).count()


@pytest.mark.django_db
def test_a_push_is_not_queued_for_a_plan_the_caller_may_not_export(settings) -> None:
    """Rights are checked when the job is asked for (and again when it runs)."""
    from django.http import Http404

    from plan_service.policy import PermissionDenied

    settings.FHIR_PUSH_BASE_URL = "http://127.0.0.1:9/fhir"
    lead, plan = _plan()
    nurse = factories.professional("public_health_nurse", lead.organization)
    factories.add_member(plan, lead, nurse)
    stranger = factories.professional("public_health_nurse")
    kanta = _kanta()
    with pytest.raises(Http404):
        jobs.enqueue_push(actor=stranger.user, plan_id=plan.pk, recipient=kanta, version=None)
    with pytest.raises(PermissionDenied):
        jobs.enqueue_push(actor=nurse.user, plan_id=plan.pk, recipient=kanta, version=None)
    assert not BackgroundJob.objects.exists()
