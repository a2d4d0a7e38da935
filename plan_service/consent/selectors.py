"""Reads of consent records, through plan_service.policy."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import BooleanField, ExpressionWrapper, QuerySet

from plan_service import policy
from plan_service.audit.parties import Target
from plan_service.consent.models import Consent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def _answered(consents: QuerySet[Consent]) -> QuerySet[Consent]:
    return consents.annotate(
        in_force=ExpressionWrapper(Consent.effective_q(), output_field=BooleanField())
    ).prefetch_related("subjects")


def consent_list(*, user: AbstractBaseUser) -> QuerySet[Consent]:
    """Consents of the families whose plan the user leads or belongs to."""
    return _answered(policy.consents_for(user, policy.Action.VIEW)).order_by("-valid_from", "id")


def consent_written(consent: Consent) -> Consent:
    """The consent a write of the caller's has just made or changed, as its answer.

    Read by its id, not through the caller's access: the policy allowed the write, and the
    write may itself have ended that access (a professional whose place on the team rests on
    this very consent records its withdrawal, or a refusal that ends it). Only for a consent
    the caller's own write produced (a withdrawal that someone else's had already made is
    answered through the caller's access): the answer then holds what the caller wrote or
    had just read, and their next request sees what the rules give them.
    """
    return _answered(Consent.objects.filter(pk=consent.pk)).get()


def consent_target(consent_id: uuid.UUID) -> Target | None:
    """A refused request aimed at a consent: the people it is about (the access log's question)."""
    consent = Consent.objects.filter(pk=consent_id).first()
    if consent is None:
        return None
    return Target(
        family_id=consent.family_id, people=list(consent.subjects.values_list("pk", flat=True))
    )
