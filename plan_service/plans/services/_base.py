"""What every plan write shares: locking, deciding once, versions, history rows, log rows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.http import Http404

from plan_service import historical, policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access
from plan_service.errors import StaleVersionError
from plan_service.plans import kinds
from plan_service.plans.models import (
    Plan,
    PlanItem,
    Reason,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

Act = AccessEvent.Action


def is_contribution(model: type[PlanItem]) -> bool:
    """Items the family writes through CONTRIBUTE (declared `authored`, plans/kinds.py)."""
    return kinds.of(model).authored


def field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def track(row: Any, actor: User | None, code: str) -> None:
    """Tell django-simple-history who makes the coming save and why (never from the payload)."""
    row._history_user = actor
    row._change_reason = code


def as_reason(reason: Reason | str | None) -> Reason:
    """A client's reason (or a caller's plain text) as a Reason."""
    if isinstance(reason, Reason):
        return reason
    return Reason(text=reason or "")


def track_plan(plan: Plan, actor: User | None, reason: Reason | str | None, default: str) -> None:
    """Who makes the coming plan version and why: the client's code or the operation's, and the
    client's own words (kept on the version, shown only to readers who see all of it)."""
    given = as_reason(reason)
    track(plan, actor, given.code or default)
    plan._change_note = given.text  # type: ignore[attr-defined]


def lock_plan(plan_id: object) -> Plan:
    """Lock the plan row for the rest of the transaction; all writes to a plan queue here."""
    plan = Plan.objects.select_for_update().filter(pk=plan_id).first()
    if plan is None:
        raise Http404
    return plan


def decide_once(
    actor: User, plan_id: object, access: policy.PlanAccess | None
) -> tuple[Plan, policy.PlanAccess | None]:
    """The locked plan and the actor's access to it, decided once per request.

    A view that locked the plan and decided the access in this transaction
    (`selectors.plan_access_get(lock=True)`) passes it in; otherwise lock and decide here.
    Returns (plan, None) when the plan is invisible to the actor.
    """
    if (
        access is not None
        and access.locked
        and str(access.plan.pk) == str(plan_id)
        and access.membership.user_id == actor.pk
    ):
        return access.plan, access
    plan = lock_plan(plan_id)
    return plan, policy.plan_access(actor, plan)


def require(
    actor: User, plan_id: object, action: policy.Action, access: policy.PlanAccess | None
) -> tuple[Plan, policy.PlanAccess]:
    """`policy.require_plan` on the locked plan: 404 when invisible, 403 when not allowed."""
    plan, decided = decide_once(actor, plan_id, access)
    if decided is None:
        raise Http404
    if not decided.may(action):
        raise policy.PermissionDenied
    return plan, decided


def check_version(current: int, expected: int | None) -> None:
    """Compare If-Match with the version *as the writer sees it* (plans/visibility.py), computed
    under the row locks: 412 when the writer's view is stale. Changes the writer cannot see do
    not make it stale, and the writer's write cannot touch them."""
    if expected is not None and expected != current:
        raise StaleVersionError(current)


def advance(plan: Plan, actor: User, reason: Reason | str | None, default: str) -> int:
    """Advance the plan version (the plan row is locked); returns the new version."""
    plan.version += 1
    plan.updated_by = actor
    track_plan(plan, actor, reason, default)
    historical.save(plan, update_fields=["version", "updated_by", "updated_at"])
    return plan.version


def item_subjects(
    plan: Plan, item: PlanItem | None, access: policy.PlanAccess | None = None
) -> list[uuid.UUID]:
    if item is not None and item.concerns:
        return list(item.concerns)
    if access is not None and access.family_people is not None:
        return list(access.family_people)  # type: ignore[arg-type]
    return family_subjects([plan.family_id]).get(plan.family_id, [])


def log_item(
    actor: User,
    action: str,
    access: policy.PlanAccess,
    item: PlanItem,
    also: list[uuid.UUID] = (),  # type: ignore[assignment]
) -> None:
    record_access(
        actor=actor,
        action=action,
        subjects=[*item_subjects(access.plan, item, access), *also],
        family_id=access.plan.family_id,
        plan_id=access.plan.pk,
        object_type=item._meta.model_name,
        object_id=item.pk,
        object_version=item.version,
        access=access,
    )


def log_plan_write(
    actor: User,
    action: str,
    plan: Plan,
    access: policy.PlanAccess,
    *,
    object_type: str = "plan",
    object_id: object = None,
    object_version: int | None = None,
) -> None:
    """The log rows of a write to the plan itself or its team: one per family member."""
    record_access(
        actor=actor,
        action=action,
        subjects=item_subjects(plan, None),
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type=object_type,
        object_id=object_id or plan.pk,
        object_version=object_version,
        access=access,
    )


def locked_item(
    access: policy.PlanAccess,
    model: type[PlanItem],
    item_id: object,
    item: PlanItem | None,
    action: policy.Action,
) -> PlanItem:
    """The item locked in this transaction (the view's, when it locked the same one) once the
    actor may do `action` to it."""
    if item is None or not access.locked or str(item.pk) != str(item_id):
        item = lock_item(access, model, item_id)
    policy.require_item(access, action, item)
    return item


def lock_item(access: policy.PlanAccess, model: type[PlanItem], item_id: object) -> PlanItem:
    item = model.objects.select_for_update().filter(plan=access.plan, pk=item_id).first()
    if item is None:
        raise Http404
    return item
