"""Creating a plan and changing its own fields (status, summary, period)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.errors import ConflictError
from plan_service.participants.models import (
    Family,
)
from plan_service.plans import signals
from plan_service.plans.models import (
    ChangeCode,
    Membership,
    Plan,
    Reason,
    validate_transition,
)
from plan_service.plans.services._base import (
    check_version,
    field_error,
    lock_plan,
    log_plan_write,
    track_plan,
)
from plan_service.plans.services.team import family_sync, save_membership
from plan_service.plans.visibility import reader_view

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

Act = AccessEvent.Action

#
# Plans
#


@transaction.atomic
def plan_create(
    *,
    actor: User,
    family: Family | None = None,
    family_id: object | None = None,
    statute: str,
    summary: str = "",
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
) -> Plan:
    """Open a plan for a family; the actor becomes its lead on the statutory basis given.

    Raises PermissionDenied for non-professionals, ConflictError (409) when the family already
    has an open plan (the partial unique index decides, so simultaneous creates yield one plan).
    """
    policy.require_model(actor, policy.may_create_plan(actor))
    family = policy.families_for(actor).filter(pk=family.pk if family else family_id).first()
    if family is None:
        raise field_error("family", _("No such family."), "does_not_exist")
    plan = Plan(
        family=family,
        summary=summary,
        period_start=period_start or timezone.localdate(),
        period_end=period_end,
        created_by=actor,
        updated_by=actor,
    )
    track_plan(plan, actor, None, ChangeCode.PLAN_CREATED)
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as exc:
        raise ConflictError(_("This family already has an open plan.")) from exc
    lead = Membership(
        plan=plan,
        user=actor,
        role=Membership.PlanRole.LEAD,
        professional=actor.professional,  # type: ignore[attr-defined]
        basis=Membership.Basis.STATUTE,
        statute=statute,
        created_by=actor,
        updated_by=actor,
    )
    save_membership(lead, actor, "plan created")
    family_sync(plan=plan, actor=actor)
    access = policy.require_plan(actor, policy.Action.VIEW, plan)
    log_plan_write(actor, Act.CREATE, plan, access, object_version=plan.version)
    return plan


@transaction.atomic
def plan_update(
    *,
    actor: User,
    plan_id: object,
    expected_version: int | None,
    data: Mapping[str, Any],
    reason: Reason | str | None = None,
) -> Plan:
    """Change the plan's summary, period or status. Status moves need the lead (MANAGE).

    `expected_version` is the plan version as the actor sees it (their ETag).
    """
    plan = lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.CHANGE, plan)
    if "status" in data and data["status"] != plan.status and not access.may(policy.Action.MANAGE):
        raise policy.PermissionDenied
    if expected_version is not None:
        check_version(reader_view(access).version, expected_version)
    if "status" in data and data["status"] != plan.status:
        validate_transition(plan.status, data["status"])
    for name in ("summary", "period_start", "period_end", "status"):
        if name in data:
            setattr(plan, name, data[name])
    if plan.period_end and plan.period_start and plan.period_end < plan.period_start:
        raise field_error("period_end", _("The period cannot end before it starts."))
    plan.version += 1
    plan.updated_by = actor
    track_plan(plan, actor, reason, ChangeCode.PLAN_CHANGED)
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as exc:
        raise ConflictError(_("This family already has an open plan.")) from exc
    log_plan_write(actor, Act.UPDATE, plan, access, object_version=plan.version)
    signals.plan_changed.send(sender=Plan, actor=actor, plan=plan)
    return plan
