"""The worker's tasks (procrastinate, on this service's PostgreSQL; discovered by name `tasks`).

Each task is a thin shell: it closes stale database connections, calls a plain function that a
test or a command can also call synchronously, and leaves retries to the queue.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections
from django.utils import timezone
from procrastinate import JobContext, RetryStrategy
from procrastinate.contrib.django import app

from plan_service.jobs import services

logger = logging.getLogger(__name__)


def _fresh_connection(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Django's connection hygiene for code outside a request (the worker's threads)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper


PUSH_RETRY = RetryStrategy(
    max_attempts=settings.JOB_PUSH_ATTEMPTS,
    wait=settings.JOB_RETRY_WAIT_SECONDS,
    linear_wait=settings.JOB_RETRY_LINEAR_SECONDS,
    retry_exceptions={services.RetryablePushError},
)


@app.task(name="fhir_push", queue="exports", retry=PUSH_RETRY, pass_context=True)
@_fresh_connection
def fhir_push(context: JobContext, job_id: str) -> None:
    attempts = (context.job.attempts if context.job else 0) + 1
    services.run_push(job_id, last_attempt=attempts >= settings.JOB_PUSH_ATTEMPTS)


@app.task(name="bulk_export", queue="exports", retry=2)
@_fresh_connection
def bulk_export(job_id: str) -> None:
    services.run_bulk_export(job_id)


@app.periodic(cron="* * * * *")
@app.task(name="retry_stalled_jobs", queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Put back jobs whose worker died (no heartbeat for JOB_STALLED_SECONDS): they run again."""
    await retry_stalled(context.app)


async def retry_stalled(app_: Any) -> int:
    stalled = await app_.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.JOB_STALLED_SECONDS
    )
    for job in stalled:
        logger.warning("retrying job %s of a worker that stopped answering", job.id)
        await app_.job_manager.retry_job(job)
    return len(list(stalled))


@app.periodic(cron=settings.JOB_AUDIT_CRON)
@app.task(name="audit_anchor_and_retention", queueing_lock="audit_daily", retry=2)
@_fresh_connection
def audit_anchor_and_retention(timestamp: int) -> None:
    """Daily: write an anchor of both logs' heads, then purge rows past their retention."""
    directory = Path(settings.AUDIT_ANCHOR_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    call_command("audit_anchor", output=str(directory / f"anchor-{stamp}.json"))
    if settings.JOB_AUDIT_RETENTION:
        call_command("audit_purge")


@app.task(name="ping", queue="ping")
async def ping(n: int = 0) -> int:
    """Does nothing: shows a worker is alive, and measures the queue (benchmarks/jobs_drain.py)."""
    return n
