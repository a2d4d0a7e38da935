"""Writes to a plan's items (needs, goals, actions, reviews, comments, dissents, signatures),
their restore, and a mature minor's restriction of an item toward the guardians."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from plan_service import historical, policy
from plan_service.audit.models import AccessEvent
from plan_service.errors import ConflictError
from plan_service.participants.models import (
    Organization,
    Person,
)
from plan_service.plans import kinds, signals, visibility
from plan_service.plans.models import (
    ITEM_MODELS,
    Acknowledgement,
    Action,
    ChangeCode,
    Comment,
    Dissent,
    Goal,
    Membership,
    Need,
    PlanItem,
    Reason,
    Review,
    TargetType,
)
from plan_service.plans.services._base import (
    advance,
    as_reason,
    check_version,
    decide_once,
    field_error,
    is_contribution,
    item_subjects,
    lock_item,
    lock_plan,
    locked_item,
    log_item,
    require,
    track,
)
from plan_service.plans.visibility import content_hash, reader_view

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

Act = AccessEvent.Action

#
# Items
#


def _resolve_item(access: policy.PlanAccess, model: type[PlanItem], item_id: object) -> PlanItem:
    item = policy.items_for(access, model.objects.all()).filter(pk=item_id).first()
    if item is None:
        raise ValidationError({"_": "missing"})
    return item


def _resolve_references(access: policy.PlanAccess, model: type[PlanItem], data: dict) -> None:
    """Turn ids in the payload into rows the access may see, or a 400 naming the field.

    An id of a row the caller cannot see gets the same answer as one that does not exist.
    """

    def family_children() -> set[object]:
        if access.family_children is not None:
            return set(access.family_children)
        return set(
            Person.objects.filter(
                family_id=access.plan.family_id, kind=Person.Kind.CHILD
            ).values_list("pk", flat=True)
        )

    def family_people() -> set[object]:
        if access.family_people is not None:
            return set(access.family_people)
        return set(
            Person.objects.filter(family_id=access.plan.family_id).values_list("pk", flat=True)
        )

    def visible(field: str, target: type[PlanItem]) -> None:
        if data.get(field) is None:
            return
        try:
            data[field] = _resolve_item(access, target, data[field])
        except ValidationError as exc:
            raise field_error(field, _("No such item in this plan."), "does_not_exist") from exc

    if data.get("concerns"):
        children = policy.nameable_children(access, family_children())
        unknown = [c for c in data["concerns"] if c not in children]
        if unknown:
            raise field_error("concerns", _("Only children of this family can be named."))
    for name, target in kinds.of(model).references.items():
        if name.endswith("_id"):  # the payload names the item by the field's plain name
            visible(name.removesuffix("_id"), kinds.get(target).model)
    if model is Action:
        kind = data.get("responsible_kind")
        if kind == Action.Responsible.MEMBER and data.get("responsible_user") is not None:
            team = Membership.objects.filter(plan=access.plan, user_id=data["responsible_user"])
            if not team.filter(policy.current_membership_q()).exists():
                raise field_error(
                    "responsible_user", _("Not a current member of this team."), "does_not_exist"
                )
        if data.get("responsible_person") is not None:
            person_id = data["responsible_person"]
            if person_id not in family_people():
                raise field_error(
                    "responsible_person", _("Not a member of this family."), "does_not_exist"
                )
        org = data.get("responsible_organization")
        if org is not None and not Organization.objects.filter(pk=org).exists():
            raise field_error(
                "responsible_organization", _("No such organisation."), "does_not_exist"
            )
    if model is Review and data.get("progress"):
        for index, entry in enumerate(data["progress"]):
            goal = policy.items_for(access, Goal.objects.all()).filter(pk=entry["goal"]).first()
            if goal is None:
                raise field_error(
                    f"progress.{index}.goal", _("No such goal in this plan."), "does_not_exist"
                )
    if model in (Comment, Dissent):
        _resolve_target(access, data)


def _rename_ids(data: dict) -> None:
    """Plain ids in the payload go to the model's *_id attributes."""
    for key in ("responsible_user", "responsible_person", "responsible_organization"):
        if key in data:
            data[f"{key}_id"] = data.pop(key)


def _check_responsible(data: dict) -> None:
    kind = data.get("responsible_kind")
    needed = {
        Action.Responsible.MEMBER: "responsible_user",
        Action.Responsible.GUARDIAN: "responsible_person",
        Action.Responsible.CHILD: "responsible_person",
        Action.Responsible.ORGANIZATION: "responsible_organization",
    }.get(kind)
    if needed and data.get(needed) is None:
        raise field_error(needed, _("Name who is responsible."), "required")


def _resolve_target(access: policy.PlanAccess, data: dict) -> None:
    """Comments and dissents point at the plan or at an item the caller can read."""
    target_type = data.get("target_type")
    if target_type == TargetType.PLAN:
        data["target_id"] = None
        data.setdefault("category", "general")
        return
    if data.get("target_id") is None:
        raise field_error("target_id", _("Name the item."), "required")
    try:
        target = _resolve_item(access, ITEM_MODELS[target_type], data["target_id"])
    except ValidationError as exc:
        raise field_error("target_id", _("No such item in this plan."), "does_not_exist") from exc
    # What is said about an item is as sensitive as the item, and reaches the same readers.
    data["category"] = target.category
    data["restricted_by_id"] = target.restricted_by_id
    data.setdefault("concerns", list(target.concerns))


def _unseen_progress(access: policy.PlanAccess, review: PlanItem) -> list[dict[str, Any]]:
    """A review's progress entries on goals the access may not see (one query)."""
    entries = list(getattr(review, "progress", None) or [])
    if not entries:
        return []
    seen = {
        str(pk) for pk in policy.items_for(access, Goal.objects.all()).values_list("pk", flat=True)
    }
    return [e for e in entries if str(e.get("goal")) not in seen]


def _required_action(model: type[PlanItem]) -> policy.Action:
    return policy.item_write_action(model)


@transaction.atomic
def item_create(
    *,
    actor: User,
    plan_id: object,
    model: type[PlanItem],
    data: Mapping[str, Any],
    reason: Reason | str | None = None,
    access: policy.PlanAccess | None = None,
) -> PlanItem:
    """Add an item to a plan; the plan's version advances in the same transaction."""
    action = _required_action(model)
    plan, access = require(actor, plan_id, action, access)
    values = dict(data)
    _resolve_references(access, model, values)
    if model is Action:
        _check_responsible(values)
    _rename_ids(values)
    if action is policy.Action.CHANGE:
        if "category" not in values:
            raise field_error("category", _("This field is required."), "required")
        policy.require_category_write(access, values["category"])
    elif model is Comment and values.get("target_type") == TargetType.PLAN:
        values["category"] = values.get("category") or "general"
        if values["category"] not in access.reads:
            raise field_error("category", _("You cannot write in this category."))
    item = model(plan=plan, created_by=actor, updated_by=actor, **values)
    if model is not Acknowledgement:
        item.plan_version = advance(plan, actor, reason, ChangeCode.ITEM_ADDED)
    else:
        item.plan_version = plan.version
    track(item, actor, as_reason(reason).code or ChangeCode.ITEM_ADDED)
    historical.save(item)
    if model is not Acknowledgement:
        visibility.note_item_written(plan, kinds.of(model).name, item.pk)
    log_item(actor, Act.CREATE, access, item)
    if model is not Acknowledgement:
        signals.item_changed.send(
            sender=type(item), actor=actor, plan=plan, item=item, created=True
        )
    return item


def _check_item_version(access: policy.PlanAccess, item: PlanItem, expected: int | None) -> None:
    """If-Match on an item names its version as the writer sees it; compare under the locks."""
    if expected is not None:
        kind = item._meta.model_name
        check_version(visibility.item_version(access, kind, item.pk, item.version), expected)


#: Fields an update may never touch, whatever the serializer lets through.
_FROZEN = frozenset(
    {"id", "plan", "plan_id", "version", "plan_version", "created_at", "created_by", "updated_by"}
)


@transaction.atomic
def item_update(
    *,
    actor: User,
    plan_id: object,
    model: type[PlanItem],
    item_id: object,
    expected_version: int | None,
    data: Mapping[str, Any],
    reason: Reason | str | None = None,
    default_code: str = ChangeCode.ITEM_CHANGED,
    access: policy.PlanAccess | None = None,
    item: PlanItem | None = None,
) -> PlanItem:
    """Change an item the actor may write, based on the version they read (412 when stale).

    `expected_version` is the item's version as the actor sees it (their ETag). `access` and
    `item` may come from a view that locked the plan, decided the access and locked the item in
    this transaction; the rules are then not decided twice.
    """
    plan, access = decide_once(actor, plan_id, access)
    if access is None:
        raise Http404
    item = locked_item(access, model, item_id, item, _required_action(model))
    _check_item_version(access, item, expected_version)
    values = {k: v for k, v in data.items() if k not in _FROZEN}
    # Whom the item concerned before the change: moving it to another child touches both.
    concerned_before = item_subjects(plan, item, access)
    if is_contribution(model):
        # Words keep the item they are about; only what was said may change.
        for key in ("target_type", "target_id"):
            if key in values and values[key] != getattr(item, key):
                raise field_error(key, _("What this is about cannot change."))
        values = {k: v for k, v in values.items() if k in ("text", "kind")}
    else:
        _resolve_references(access, model, values)
        if "category" in values:
            policy.require_category_write(access, values["category"])
        if model is Review and "progress" in values:
            # The writer names progress on goals they see; entries on goals they may not see
            # (never shown to them) stay as they are instead of being dropped by the change.
            values["progress"] = [*values["progress"], *_unseen_progress(access, item)]
    _rename_ids(values)
    for name, value in values.items():
        setattr(item, name, value)
    if model is Action:
        _check_responsible(
            {
                "responsible_kind": item.responsible_kind,
                "responsible_user": item.responsible_user_id,
                "responsible_person": item.responsible_person_id,
                "responsible_organization": item.responsible_organization_id,
            }
        )
    item.version += 1
    item.updated_by = actor
    item.plan_version = advance(plan, actor, reason, default_code)
    track(item, actor, as_reason(reason).code or default_code)
    historical.save(item)
    visibility.note_item_written(plan, kinds.of(model).name, item.pk)
    log_item(actor, Act.UPDATE, access, item, also=concerned_before)
    signals.item_changed.send(sender=type(item), actor=actor, plan=plan, item=item, created=False)
    return item


def _unlink_dependants(actor: User, item: PlanItem, version: int) -> None:
    """Goals of a removed need and actions of a removed goal lose the link, with history."""
    dependants: list[PlanItem] = []
    if isinstance(item, Need):
        dependants = list(Goal.objects.select_for_update().filter(need=item))
    elif isinstance(item, Goal):
        dependants = list(Action.objects.select_for_update().filter(goal=item))
    for row in dependants:
        if isinstance(row, Goal):
            row.need = None
        else:
            row.goal = None  # type: ignore[attr-defined]
        row.version += 1
        row.plan_version = version
        row.updated_by = actor
        track(row, actor, ChangeCode.ITEM_CHANGED)
        row.save()


@transaction.atomic
def item_delete(
    *,
    actor: User,
    plan_id: object,
    model: type[PlanItem],
    item_id: object,
    expected_version: int | None,
    reason: Reason | str | None = None,
    access: policy.PlanAccess | None = None,
    item: PlanItem | None = None,
) -> None:
    """Remove an item; its history stays (and stays as hidden as the item was).

    `access` and `item` as for `item_update`.
    """
    plan, access = decide_once(actor, plan_id, access)
    if access is None:
        raise Http404
    item = locked_item(access, model, item_id, item, _required_action(model))
    _check_item_version(access, item, expected_version)
    version = advance(plan, actor, reason, ChangeCode.ITEM_REMOVED)
    _unlink_dependants(actor, item, version)
    item.plan_version = version
    track(item, actor, as_reason(reason).code or ChangeCode.ITEM_REMOVED)
    log_item(actor, Act.DELETE, access, item)
    signals.item_changed.send(sender=type(item), actor=actor, plan=plan, item=item, created=False)
    item.delete()


@transaction.atomic
def acknowledgement_create(
    *,
    actor: User,
    plan_id: object,
    version: int,
    decision: str,
    comment: str = "",
    access: policy.PlanAccess | None = None,
) -> Acknowledgement:
    """A guardian or the child signs the current plan version *as they see it*, bound to the
    hash of the content they see (plans/visibility.py); the signature keeps the stored version.

    Signing an older version answers 409 with the current one; the plan's version does not move.
    """
    plan, access = require(actor, plan_id, policy.Action.CONTRIBUTE, access)
    if not policy.may_acknowledge(access):
        raise policy.PermissionDenied
    view = reader_view(access)
    if version != view.version:
        raise ConflictError(
            _("Version %(version)s is not current; the plan is at version %(current)s.")
            % {"version": version, "current": view.version}
        )
    ack = Acknowledgement(
        plan=plan,
        category="general",
        person_id=access.person_id,
        concerns=policy.acted_for(access),
        acknowledged_version=plan.version,
        content_hash=content_hash(view),
        decision=decision,
        comment=comment,
        plan_version=plan.version,
        created_by=actor,
        updated_by=actor,
    )
    track(ack, actor, ChangeCode.ITEM_ADDED)
    ack.save()
    log_item(actor, Act.CREATE, access, ack)
    return ack


@transaction.atomic
def item_restore(
    *,
    actor: User,
    plan_id: object,
    model: type[PlanItem],
    item_id: object,
    version: int,
    expected_version: int | None,
    reason: Reason | str | None = None,
) -> PlanItem:
    """The lead brings an item back to an earlier version of it (numbered as the lead sees the
    item's versions); that makes a new version."""
    from plan_service.plans import history

    plan = lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.MANAGE, plan)
    row = history.item_version(model=model, access=access, item_id=item_id, version=version)
    return item_update(
        actor=actor,
        plan_id=plan_id,
        model=model,
        item_id=item_id,
        expected_version=expected_version,
        data=history.restorable_values(model, row),
        reason=reason,
        default_code=ChangeCode.ITEM_RESTORED,
    )


#
# A mature minor's restriction toward the guardians
#


@transaction.atomic
def item_restrict(
    *,
    actor: User,
    plan_id: object,
    model: type[PlanItem],
    item_id: object,
    child_id: object | None,
    expected_version: int | None,
    reason: Reason | str | None = None,
) -> PlanItem:
    """Hide an item from the guardians at a mature child's wish (THL code 3), or lift that.

    A professional of the team records the wish; a child with an account may do it themself for
    an item about them alone (`policy.may_child_restrict`).

    Comments and dissents about the item follow it, so nothing the guardians see points at it.
    """
    from plan_service.participants.models import MaturityAssessment

    plan = lock_plan(plan_id)
    access = policy.plan_access(actor, plan)
    if access is None:
        raise Http404
    item = lock_item(access, model, item_id)
    if policy.is_child(access):
        # A mature child may hide an item about them alone, for themself (policy decides).
        policy.require_item(access, policy.Action.VIEW, item)
        if not policy.may_child_restrict(access, item, child_id):
            raise policy.PermissionDenied
    else:
        policy.require_item(access, policy.Action.CHANGE, item)
        if not policy.may_restrict_for_child(access):
            raise policy.PermissionDenied
    _check_item_version(access, item, expected_version)
    child = None
    if child_id is not None:
        child = Person.objects.filter(
            pk=child_id, family_id=plan.family_id, kind=Person.Kind.CHILD
        ).first()
        latest = (
            MaturityAssessment.objects.filter(child=child).order_by("-assessed_on", "-created_at")
            if child
            else None
        )
        current = latest.first() if latest is not None else None
        if (
            child is None
            or current is None
            or current.code != MaturityAssessment.Code.CAPABLE_FORBIDS
        ):
            raise field_error(
                "child",
                _("Only a child assessed capable who forbids showing (THL code 3) can hide items."),
                "not_assessed",
            )
    version = advance(plan, actor, reason, ChangeCode.AUDIENCE_CHANGED)
    targets = [item]
    for words in (Comment, Dissent):
        targets += list(
            words.objects.select_for_update().filter(
                plan=plan, target_type=model._meta.model_name, target_id=item.pk
            )
        )
    for row in targets:
        row.restricted_by = child
        row.version += 1
        row.plan_version = version
        row.updated_by = actor
        track(row, actor, ChangeCode.AUDIENCE_CHANGED)
        row.save()
    log_item(actor, Act.UPDATE, access, item)
    return item
