"""Asking for background jobs and running their bodies.

A job is asked for inside the caller's transaction: the `BackgroundJob` row and the queue row
(procrastinate's Django connector writes through Django's own connection) commit together or
not at all, so a job asked for in a transaction that rolls back never runs.

The bodies (`run_push`, `run_bulk_export`) are plain functions: the worker's tasks call them,
and so can a test or a command, synchronously.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.context import RequestFacts, reset_request_facts, set_request_facts
from plan_service.jobs.models import BackgroundJob
from plan_service.participants.models import Recipient
from plan_service.plans import selectors

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)
Status = BackgroundJob.Status


class RetryablePushError(Exception):
    """The FHIR server could not be reached or failed (5xx): the queue tries again later."""


@contextlib.contextmanager
def job_facts(job: BackgroundJob) -> Iterator[None]:
    """Log rows written by a job carry `job:<id>` as their request id."""
    token = set_request_facts(RequestFacts(request_id=f"job:{job.pk}"))
    try:
        yield
    finally:
        reset_request_facts(token)


#
# Asking
#


def enqueue_push(
    *,
    actor: AbstractBaseUser,
    plan_id: object,
    recipient: Recipient,
    version: int | None,
) -> BackgroundJob:
    """Queue a push of the plan to `recipient`, as the synchronous push checks it: 404 hidden,
    403 when `actor` may not export it for that recipient (`policy.export_access`), 503 when
    neither the recipient nor the settings name a FHIR server. The job carries the recipient
    (its registry id and code); the worker pushes what that recipient may receive."""
    from plan_service.jobs import tasks
    from plan_service.plans import export, push

    plan = selectors.plan_get(user=actor, plan_id=plan_id)
    export.export_access_for(actor, plan, recipient, to_recipient=True)
    if not push.push_target(recipient):
        raise push.PushNotConfigured
    job = BackgroundJob.objects.create(
        kind=BackgroundJob.Kind.FHIR_PUSH,
        requested_by=actor,
        plan_id=plan.pk,
        params={"version": version, "recipient": recipient.code, "recipient_id": str(recipient.pk)},
        total=1,
    )
    job.queue_job_id = tasks.fhir_push.defer(job_id=str(job.pk))
    job.save(update_fields=["queue_job_id"])
    return job


def enqueue_bulk_export(*, actor: AbstractBaseUser) -> BackgroundJob:
    """Queue an NDJSON export of every plan `actor` may export (possibly none)."""
    from plan_service.jobs import tasks

    job = BackgroundJob.objects.create(kind=BackgroundJob.Kind.BULK_EXPORT, requested_by=actor)
    job.queue_job_id = tasks.bulk_export.defer(job_id=str(job.pk))
    job.save(update_fields=["queue_job_id"])
    return job


#
# Running
#


def _start(job_id: object) -> BackgroundJob | None:
    """Mark the job running (one more attempt); None when it is already finished."""
    with transaction.atomic():
        job = BackgroundJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (Status.SUCCEEDED, Status.FAILED):
            return None
        job.status = Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "attempts", "started_at"])
        return job


def _fail(job: BackgroundJob, code: str, message: str, result: Any = None) -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED,
        error_code=code[:40],
        error=message[:500],
        result=result,
        finished_at=timezone.now(),
    )


def _job_recipient(job: BackgroundJob) -> Recipient | None:
    """The registry recipient the job was asked for, if it is still active."""
    recipient_id = (job.params or {}).get("recipient_id")
    if not recipient_id:
        return None
    return Recipient.objects.filter(pk=recipient_id, active=True).first()


def run_push(job_id: object, *, last_attempt: bool = True) -> BackgroundJob | None:
    """One attempt at a queued push. Raises RetryablePushError when another attempt may help.

    The same steps as the synchronous push (`plans.push`: `push_prepare`, one HTTP attempt,
    `push_record`), for the recipient the job carries; the queue does the retrying. The
    server's answer, the disclosure rows and the push record are written in one transaction
    with the job marked done; a run that finds the job done (an earlier run committed, then
    its worker died before telling the queue) does nothing, so a retried push never logs its
    disclosure twice. The push itself is idempotent on the server (PUT of derived ids).
    """
    from plan_service.plans import push

    job = _start(job_id)
    if job is None:
        return None
    actor = job.requested_by
    with job_facts(job):
        recipient = _job_recipient(job)
        if recipient is None:
            _fail(job, "unknown_recipient", _("The recipient is no longer in the registry."))
            return job
        try:
            prepared = push.push_prepare(
                actor=actor,
                plan_id=job.plan_id,
                recipient=recipient,
                version=(job.params or {}).get("version"),
            )
        except (Http404, policy.PermissionDenied):
            # Rights are checked again when the job runs: they may have ended meanwhile.
            _fail(job, "forbidden", _("You may no longer export this plan."))
            return job
        except push.PushNotConfigured:
            _fail(job, "fhir_push_not_configured", str(push.PushNotConfigured.default_message))
            return job
        except push.PushOutdatedError as exc:
            _fail(job, "older_than_pushed", str(exc.message))
            return job
        except ValidationError as exc:
            _fail(job, "version_not_available", "; ".join(exc.messages))
            return job
        try:
            pushed = push.fhir_transaction(
                base_url=prepared.target,
                bundle=prepared.bundle,
                timeout=float(settings.FHIR_PUSH_TIMEOUT_SECONDS),
                attempts=1,  # the queue retries, with its own backoff
                backoff=0,
            )
        except push.PushFailed as exc:
            body = {"server_status": exc.server_status, "operation_outcome": exc.outcome}
            if exc.code == "fhir_unavailable" and not last_attempt:
                BackgroundJob.objects.filter(pk=job.pk).update(
                    error_code=exc.code, error=str(exc.message)[:500], result=body
                )
                raise RetryablePushError(exc.code) from exc
            _fail(job, exc.code, str(exc.message), body)
            return job
        with transaction.atomic():
            locked = BackgroundJob.objects.select_for_update().get(pk=job.pk)
            if locked.status == Status.SUCCEEDED:
                return locked
            push.push_record(actor=actor, prepared=prepared, recipient=recipient)
            locked.status = Status.SUCCEEDED
            locked.progress = 1
            locked.error_code = ""
            locked.error = ""
            locked.finished_at = timezone.now()
            locked.result = {
                "server": pushed.base_url,
                "server_status": pushed.server_status,
                "attempts": locked.attempts,
                "entries": pushed.entries,
                "plan_version": prepared.export.snapshot.version,
                "recipient": recipient.code,
            }
            locked.save()
            return locked


def run_bulk_export(job_id: object) -> BackgroundJob | None:
    """Export every plan the requester may export into EXPORT_ROOT/<job id>/ as NDJSON.

    Progress (plans done of total) is committed after each chunk, with that chunk's disclosure
    rows. A retried run starts again in a fresh directory; chunks an earlier run committed are
    logged again because they are disclosed again (the files of the dead run are removed).
    """
    from fhir_export.ndjson import BulkWriter
    from plan_service.plans import export

    job = _start(job_id)
    if job is None:
        return None
    actor = job.requested_by
    directory = Path(settings.EXPORT_ROOT) / str(job.pk)
    writer = BulkWriter(directory)
    started = timezone.now()
    state: dict[str, Any] = {"plans": 0}
    recipient = f"FHIR bulk export for {actor.get_username()}"
    with job_facts(job):
        total = export.export_plan_count(user=actor)
        BackgroundJob.objects.filter(pk=job.pk).update(total=total, progress=0)

        def write(result: export.Export) -> None:
            writer.add_plan(result.snapshot.family_id, result.bundle)
            state["plans"] += 1

        try:
            for batch in export.export_plan_batches(user=actor, chunk_size=100):
                with transaction.atomic():
                    export.plan_export_many_to(
                        actor=actor,
                        plan_ids=[plan_id for _, plan_id in batch],
                        sink=write,
                        recipient=recipient,
                    )
                    BackgroundJob.objects.filter(pk=job.pk).update(progress=state["plans"])
        except (Http404, policy.PermissionDenied):
            # A plan of the batch left the exporter's reach while the job ran: fail the job
            # (files withdrawn), as a push that lost its right does, rather than retry forever.
            writer.abort()
            _fail(job, "forbidden", _("You may no longer export one of the plans; export again."))
            return None
        except BaseException:
            writer.abort()
            raise
        manifest = writer.close(transaction_time=started, request=f"job {job.pk}")
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=Status.SUCCEEDED,
        progress=state["plans"],
        finished_at=timezone.now(),
        result={
            "plans": state["plans"],
            "files": [{"type": o["type"], "count": o["count"]} for o in manifest.get("output", [])],
        },
    )
    job.refresh_from_db()
    return job
