"""Opening a plan in an emergency, and the auditor's review of the opening."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access
from plan_service.emergency import signals
from plan_service.emergency.models import EmergencyAccess
from plan_service.errors import ConflictError
from plan_service.participants.models import ROLE_SECTOR
from plan_service.plans.models import Membership, Plan

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

Act = AccessEvent.Action


def _field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


@transaction.atomic
def emergency_open(
    *, actor: AbstractBaseUser, plan_id: object, reason_code: str, reason_text: str
) -> tuple[EmergencyAccess, bool]:
    """Open `plan_id` for `actor` for EMERGENCY_ACCESS_HOURS; (opening, created).

    403 unless the actor's organisation may use emergency access (asked before the plan is
    looked up, so a refused caller learns nothing about plan ids); 404 for no such plan; 409 for
    a member of the plan's team (they open it normally). An opening in force is returned as is.
    The plan's lead and the organisation's auditors are told at once.
    """
    policy.require_model(actor, policy.may_break_glass(actor))
    try:
        pk = uuid.UUID(str(plan_id))
    except ValueError as exc:
        raise Http404 from exc
    plan = Plan.objects.select_for_update().filter(pk=pk).first()
    if plan is None:
        raise Http404
    if reason_code not in EmergencyAccess.Reason.values:
        raise _field_error("reason_code", _("Choose a reason from the list."), "invalid_choice")
    if not reason_text.strip():
        raise _field_error("reason_text", _("Explain the emergency."), "required")
    in_team = Membership.objects.filter(plan=plan, user=actor).filter(policy.current_membership_q())
    if in_team.exists():
        raise ConflictError(_("You are in this plan's team; open it normally."))
    current = policy.emergency_in_force(actor, plan)
    if current is not None:
        return current, False
    professional = actor.professional  # type: ignore[attr-defined]
    grant = EmergencyAccess(
        plan=plan,
        user=actor,
        professional=professional,
        organization_id=professional.organization_id,
        sector=ROLE_SECTOR[professional.role],
        reason_code=reason_code,
        reason_text=reason_text.strip(),
        expires_at=timezone.now() + dt.timedelta(hours=settings.EMERGENCY_ACCESS_HOURS),
    )
    grant._history_user = actor  # type: ignore[attr-defined]
    grant._change_reason = "emergency access opened"  # type: ignore[attr-defined]
    grant.save()
    access = policy.emergency_access(actor, plan)
    record_access(
        actor=actor,
        action=Act.CREATE,
        subjects=family_subjects([plan.family_id]).get(plan.family_id, []),
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type="emergencyaccess",
        object_id=grant.pk,
        access=access,
    )
    signals.opened.send(sender=EmergencyAccess, grant=grant)
    return grant, True


@transaction.atomic
def emergency_review(
    *, actor: AbstractBaseUser, grant_id: object, decision: str, note: str = ""
) -> EmergencyAccess:
    """An auditor of the opener's organisation accepts or flags an opening (once)."""
    policy.require_model(actor, policy.is_auditor(actor))
    try:
        pk = uuid.UUID(str(grant_id))
    except ValueError as exc:
        raise Http404 from exc
    grant = policy.emergency_reviews_for(actor).select_for_update().filter(pk=pk).first()
    if grant is None:
        raise Http404
    if decision not in (EmergencyAccess.Review.ACCEPTED, EmergencyAccess.Review.FLAGGED):
        raise _field_error("decision", _("Choose accepted or flagged."), "invalid_choice")
    if grant.review_status != EmergencyAccess.Review.PENDING:
        raise ConflictError(_("This emergency access has already been reviewed."))
    grant.review_status = decision
    grant.review_note = note.strip()
    grant.reviewed_by = actor
    grant.reviewed_at = timezone.now()
    grant._history_user = actor  # type: ignore[attr-defined]
    grant._change_reason = f"review: {decision}"  # type: ignore[attr-defined]
    grant.save()
    family_id = Plan.objects.filter(pk=grant.plan_id).values_list("family_id", flat=True).first()
    record_access(
        actor=actor,
        action=Act.UPDATE,
        subjects=family_subjects([family_id]).get(family_id, []) if family_id else [],
        family_id=family_id,
        plan_id=grant.plan_id,
        object_type="emergencyaccess",
        object_id=grant.pk,
        purpose="audit",
        legal_basis="emergency access review",
    )
    return grant
