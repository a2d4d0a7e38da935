"""Notice e-mails and the daily scan, as worker tasks (see plan_service.jobs.tasks)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from plan_service.jobs.tasks import _fresh_connection
from plan_service.notifications import services

EMAIL_RETRY = RetryStrategy(
    max_attempts=6,
    wait=settings.JOB_RETRY_WAIT_SECONDS,
    linear_wait=settings.JOB_RETRY_LINEAR_SECONDS,
    retry_exceptions={smtplib.SMTPException, OSError},
)


@app.task(name="send_notification_email", queue="email", retry=EMAIL_RETRY)
@_fresh_connection
def send_notification_email(user_id: int, kind: str) -> None:
    """One e-mail per job: a retry never sends a message twice to anyone else."""
    services.send_email(user_id=user_id, kind=kind)


@app.periodic(cron=settings.JOB_DAILY_CRON)
@app.task(name="daily_notification_scan", queueing_lock="daily_scan", retry=2)
@_fresh_connection
def daily_notification_scan(timestamp: int) -> None:
    """Consents and team places ending within 14 days, review meetings due."""
    from django.db import transaction

    with transaction.atomic():
        services.daily_scan()
