"""Notices to people: a list per person (read or unread) and, by choice, an e-mail.

A notice names its kind, the plan and, where there is one, an object the recipient may read; it
holds no plan content. Who gets one is decided from the recipients' access by
`plan_service.policy` (nobody is told of a change they may not see).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    VERSION_TO_SIGN = "version_to_sign", _("a new plan version to sign")
    COMMENT_ON_MY_ITEM = "comment_on_my_item", _("a comment or dissent on an item of mine")
    ANSWER_TO_MY_COMMENT = "answer_to_my_comment", _("an answer after my comment")
    MEMBERSHIP_ADDED = "membership_added", _("I was added to a care team")
    MEMBERSHIP_ENDING = "membership_ending", _("my place in a care team ends")
    CONSENT_ENDING = "consent_ending", _("a consent ends soon")
    REVIEW_DUE = "review_due", _("a review meeting is due")
    EMERGENCY_ACCESS = "emergency_access", _("a plan was opened in an emergency")


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    plan = models.ForeignKey(
        "plans.Plan", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(_("object type"), max_length=40, blank=True)
    object_id = models.UUIDField(_("object"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    #: Repeats collapse: one unread notice per key and recipient (e.g. one "new version" per plan).
    dedup_key = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedup_key"],
                condition=Q(read_at__isnull=True) & ~Q(dedup_key=""),
                name="notification_unread_once",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "created_at"], name="notification_recipient"),
            # Which keys a recipient already has, read or not (notifications.services): without
            # it each write walked every notice of every recipient it tells.
            models.Index(
                fields=["recipient", "dedup_key"],
                condition=~Q(dedup_key=""),
                name="notification_recipient_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id}"


def _all_kinds() -> list[str]:
    return list(Kind.values)


class Preference(models.Model):
    """Which notices a person wants, in the service and by e-mail, and in which language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    language = models.CharField(
        _("language"), max_length=5, choices=settings.LANGUAGES, default="fi"
    )
    in_app = ArrayField(
        models.CharField(max_length=30, choices=Kind.choices),
        default=_all_kinds,
        blank=True,
        verbose_name=_("notices in the service"),
    )
    email = ArrayField(
        models.CharField(max_length=30, choices=Kind.choices),
        default=_all_kinds,
        blank=True,
        verbose_name=_("notices by e-mail"),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"
