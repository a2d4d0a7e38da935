"""What the service tells about a background job: its kind, progress and result.

The queue itself is procrastinate's (tables `procrastinate_*` in the same PostgreSQL database).
This row is ours: it is what the API shows the person who asked for the job, and it is the
idempotency marker of jobs that disclose data (a push writes its disclosure rows and marks this
row done in one transaction, so a retried run never logs twice). It holds no plan content.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BackgroundJob(models.Model):
    class Kind(models.TextChoices):
        FHIR_PUSH = "fhir_push", _("push to a FHIR server")
        BULK_EXPORT = "bulk_export", _("bulk export")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="background_jobs"
    )
    plan_id = models.UUIDField(_("plan"), null=True, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    progress = models.PositiveIntegerField(_("done so far"), default=0)
    total = models.PositiveIntegerField(_("total"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    result = models.JSONField(_("result"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    queue_job_id = models.BigIntegerField(_("queue job id"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        indexes = [
            models.Index(fields=["requested_by", "created_at"], name="job_requester_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"
