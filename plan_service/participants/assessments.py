"""A mature minor's right to decide on their own data: the team's maturity assessments.

Recorded within a plan (by a professional of its team, `policy.may_record_assessment`), kept
with the child in the registry: the restriction rules read them (`plans.services.item_restrict`,
`policy.sees_restricted`), the guardians never see them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants.models import MaturityAssessment, Person


@transaction.atomic
def assessment_record(
    *,
    actor: Any,
    plan_id: object,
    child_id: object,
    code: int,
    assessed_on: dt.date | None = None,
    note: str = "",
) -> MaturityAssessment:
    """A professional of the team records whether a child can decide on their own data.

    The plan row is locked and the actor's access decided after the lock (as every plan write).
    """
    access = policy.plan_access_for(actor, plan_id, lock=True)
    if access is None:
        raise Http404
    if not access.may(policy.Action.CHANGE) or not policy.may_record_assessment(access):
        raise PermissionDenied
    plan = access.plan
    child = Person.objects.filter(
        pk=child_id, family_id=plan.family_id, kind=Person.Kind.CHILD
    ).first()
    if child is None:
        raise ValidationError(
            {"child": ValidationError(_("Name a child of this family."), code="does_not_exist")}
        )
    if assessed_on is not None and assessed_on > timezone.localdate():
        # The latest assessment decides: one dated ahead would stay in effect over every
        # assessment made before its date.
        raise ValidationError(
            {
                "assessed_on": ValidationError(
                    _("An assessment cannot be dated in the future."), code="future"
                )
            }
        )
    assessment = MaturityAssessment(
        child=child,
        code=code,
        assessed_on=assessed_on or timezone.localdate(),
        note=note,
        created_by=actor,
        updated_by=actor,
    )
    assessment._history_user = actor  # type: ignore[attr-defined]  # django-simple-history
    assessment._change_reason = "assessment_recorded"  # type: ignore[attr-defined]
    assessment.save()
    record_access(
        actor=actor,
        action=AccessEvent.Action.CREATE,
        subjects=[child.pk],
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type="maturityassessment",
        object_id=assessment.pk,
        access=access,
    )
    return assessment
