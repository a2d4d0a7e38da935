"""Consent records, shaped like FHIR Consent: who agreed to what disclosure, to whom, until when."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from plan_service import historical
from plan_service.categories import Category
from plan_service.models_base import Stamped
from plan_service.participants.models import Family, Organization, Person, Sector


class Consent(Stamped):
    """A guardian's (or a mature child's own) consent to disclose categories of a family's data.

    Effective while `status` is active and now lies in [valid_from, valid_until). Withdrawal and
    expiry are read from these columns on every request; no job has to run for them to apply.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        WITHDRAWN = "withdrawn", _("withdrawn")
        REFUSED = "refused", _("refused")

    class Method(models.TextChoices):
        ELECTRONIC = "electronic", _("given electronically by the person")
        RECORDED = "recorded", _("recorded by a professional")

    family = models.ForeignKey(Family, on_delete=models.PROTECT, related_name="consents")
    grantor = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="consents_given", verbose_name=_("grantor")
    )
    subjects = models.ManyToManyField(
        Person, related_name="consents_about", verbose_name=_("whose data")
    )
    recipient_organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
        verbose_name=_("recipient organisation"),
    )
    recipient_sector = models.CharField(
        _("recipient sector"), max_length=20, choices=Sector.choices, blank=True
    )
    categories = ArrayField(
        models.CharField(max_length=20, choices=Category.choices),
        verbose_name=_("information categories"),
    )
    purpose = models.CharField(_("purpose"), max_length=500)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    method = models.CharField(_("how obtained"), max_length=20, choices=Method.choices)
    method_detail = models.CharField(_("method detail"), max_length=500, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    withdrawal_reason = models.CharField(_("withdrawal reason"), max_length=500, blank=True)
    history = historical.records()

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [models.Index(fields=["family", "status"], name="consent_family_status")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(recipient_organization__isnull=True, recipient_sector=""),
                name="consent_has_recipient",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="consent_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"consent {self.pk}"

    @staticmethod
    def effective_q(prefix: str = "", now: object | None = None) -> Q:
        """A Q that holds for consents in force at `now` (by default the current time).

        Joint custody, decided here and only here: one guardian's consent suffices unless a
        refusal for the same family and recipient (organisation or sector) is in force; a
        withdrawal (status) or a refusal by either guardian therefore ends it.
        """
        at = now if now is not None else timezone.now()
        in_period = Q(**{f"{prefix}valid_from__lte": at}) & (
            Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at})
        )
        refusal = Consent.objects.filter(
            Q(status=Consent.Status.REFUSED, valid_from__lte=at)
            & (Q(valid_until__isnull=True) | Q(valid_until__gt=at))
            & Q(family_id=OuterRef(f"{prefix}family_id"))
            & (
                Q(recipient_organization_id=OuterRef(f"{prefix}recipient_organization_id"))
                | (
                    ~Q(recipient_sector="")
                    & Q(recipient_sector=OuterRef(f"{prefix}recipient_sector"))
                )
            )
        )
        return Q(**{f"{prefix}status": Consent.Status.ACTIVE}) & in_period & ~Exists(refusal)
