"""Emergency ("break-glass") access: a professional outside the team opens a plan, with a reason.

The opening is read-only, time-boxed by the clock (`expires_at`, checked in SQL on every request:
no job has to close it), limited to the categories the professional's sector may ever see, and
reviewed afterwards by an auditor of the professional's organisation (accept or flag).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from plan_service import historical


class EmergencyAccess(models.Model):
    class Reason(models.TextChoices):
        DANGER_TO_LIFE = "danger_to_life", _("immediate danger to life or health")
        CHILD_SAFETY = "child_safety", _("urgent assessment of a child's safety")
        URGENT_PLACEMENT = "urgent_placement", _("urgent placement or emergency care decision")
        TEAM_UNREACHABLE = "team_unreachable", _("care team unreachable in an urgent situation")

    class Review(models.TextChoices):
        PENDING = "pending", _("awaiting review")
        ACCEPTED = "accepted", _("accepted")
        FLAGGED = "flagged", _("flagged")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey("plans.Plan", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    professional = models.ForeignKey(
        "participants.Professional", on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "participants.Organization", on_delete=models.PROTECT, related_name="+"
    )
    sector = models.CharField(_("sector"), max_length=20)
    reason_code = models.CharField(_("reason"), max_length=30, choices=Reason.choices)
    reason_text = models.CharField(_("explanation"), max_length=1000)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    review_status = models.CharField(
        _("review"), max_length=10, choices=Review.choices, default=Review.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=1000, blank=True)
    history = historical.records()

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("emergency access")
        verbose_name_plural = _("emergency accesses")
        indexes = [
            models.Index(fields=["user", "plan", "expires_at"], name="emergency_user_plan"),
            models.Index(
                fields=["organization", "review_status", "opened_at"], name="emergency_review"
            ),
        ]

    def __str__(self) -> str:
        return f"emergency {self.pk} ({self.reason_code})"
