"""Giving, recording and withdrawing consent. Withdrawal takes effect on the next request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.consent.models import Consent
from plan_service.participants.models import Family, Organization, Person

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


@transaction.atomic
def consent_create(
    *,
    actor: User,
    family: Family,
    grantor_id: object | None,
    subject_ids: Sequence[object],
    categories: Sequence[str],
    purpose: str,
    recipient_organization: Organization | None = None,
    recipient_sector: str = "",
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    status: str = Consent.Status.ACTIVE,
    method_detail: str = "",
) -> Consent:
    """A guardian (or a mature child, for themself) gives consent, or the lead records one.

    A family member is always the grantor of what they give themselves; a professional names
    the grantor and says how the consent was obtained.
    """
    if not policy.consent_families_for(actor).filter(pk=family.pk).exists():
        raise policy.PermissionDenied
    people = {p.pk: p for p in Person.objects.filter(family=family)}
    own = policy.person_of(actor)
    if own is not None:
        grantor = own
        method = Consent.Method.ELECTRONIC
    else:
        grantor = people.get(grantor_id)  # type: ignore[arg-type]
        if grantor is None:
            raise _error("grantor", _("Name a member of this family."), "does_not_exist")
        if not method_detail.strip():
            raise _error("method_detail", _("Say how the consent was obtained."), "required")
        method = Consent.Method.RECORDED
    subjects = [people.get(s) for s in subject_ids]  # type: ignore[call-overload]
    problem = policy.consent_grantor_mismatch(grantor, subjects)
    if problem is not None:
        raise _error(*problem)
    if recipient_organization is None and not recipient_sector:
        raise _error("recipient_sector", _("Name a recipient organisation or sector."), "required")
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        raise _error("valid_until", _("Consent must end after it starts."))
    consent = Consent(
        family=family,
        grantor=grantor,
        recipient_organization=recipient_organization,
        recipient_sector=recipient_sector,
        categories=sorted(set(categories)),
        purpose=purpose,
        valid_from=start,
        valid_until=valid_until,
        status=status,
        method=method,
        method_detail=method_detail,
        created_by=actor,
        updated_by=actor,
    )
    consent._history_user = actor  # type: ignore[attr-defined]
    consent._change_reason = "consent given" if own else "consent recorded"  # type: ignore[attr-defined]
    consent.save()
    consent.subjects.set(subjects)  # type: ignore[arg-type]
    record_access(
        actor=actor,
        action=AccessEvent.Action.CREATE,
        subjects=[s.pk for s in subjects],  # type: ignore[union-attr]
        family_id=family.pk,
        object_type="consent",
        object_id=consent.pk,
        legal_basis="consent management",
    )
    return consent


@transaction.atomic
def consent_withdraw(*, actor: User, consent: Consent, reason: str) -> Consent:
    """Withdraw consent; members relying on it lose access on their next request. Idempotent.

    Either guardian may withdraw a consent about their child (joint custody: a withdrawal by
    either ends it); a child only their own; the lead may record a withdrawal told to them.
    """
    policy.require(actor, policy.Action.CHANGE, consent)
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.status == Consent.Status.WITHDRAWN:
        return consent
    consent.status = Consent.Status.WITHDRAWN
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_by = actor
    consent.withdrawal_reason = reason
    consent.updated_by = actor
    consent._history_user = actor  # type: ignore[attr-defined]
    consent._change_reason = "consent withdrawn"  # type: ignore[attr-defined]
    consent.save()
    record_access(
        actor=actor,
        action=AccessEvent.Action.UPDATE,
        subjects=list(consent.subjects.values_list("pk", flat=True)),
        family_id=consent.family_id,
        object_type="consent",
        object_id=consent.pk,
        legal_basis="consent management",
    )
    return consent
