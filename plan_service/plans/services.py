"""Writes to plans, their teams and their items.

Every service is one transaction that checks the policy, locks the plan row (then the item row),
compares the version the client based its write on, saves through the model (so
django-simple-history writes its row with the acting user and reason), advances the plan version
and appends the access-log rows. Nothing here uses QuerySet.update() or bulk writes on tracked
models.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access
from plan_service.errors import ConflictError, StaleVersionError
from plan_service.participants.models import (
    Family,
    Organization,
    Person,
    Professional,
)
from plan_service.plans import kinds, signals
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
    Plan,
    PlanItem,
    Reason,
    Review,
    TargetType,
    validate_transition,
)
from plan_service.plans.visibility import content_hash, reader_view

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

Act = AccessEvent.Action


def _is_contribution(model: type[PlanItem]) -> bool:
    """Items the family writes through CONTRIBUTE (declared `authored`, plans/kinds.py)."""
    return kinds.of(model).authored


def _field_error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _track(row: Any, actor: User | None, code: str) -> None:
    """Tell django-simple-history who makes the coming save and why (never from the payload)."""
    row._history_user = actor
    row._change_reason = code


def _reason(reason: Reason | str | None) -> Reason:
    """A client's reason (or a caller's plain text) as a Reason."""
    if isinstance(reason, Reason):
        return reason
    return Reason(text=reason or "")


def _track_plan(plan: Plan, actor: User | None, reason: Reason | str | None, default: str) -> None:
    """Who makes the coming plan version and why: the client's code or the operation's, and the
    client's own words (kept on the version, shown only to readers who see all of it)."""
    given = _reason(reason)
    _track(plan, actor, given.code or default)
    plan._change_note = given.text  # type: ignore[attr-defined]


def _lock_plan(plan_id: object) -> Plan:
    """Lock the plan row for the rest of the transaction; all writes to a plan queue here."""
    plan = Plan.objects.select_for_update().filter(pk=plan_id).first()
    if plan is None:
        raise Http404
    return plan


def _decided(
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
    plan = _lock_plan(plan_id)
    return plan, policy.plan_access(actor, plan)


def _require(
    actor: User, plan_id: object, action: policy.Action, access: policy.PlanAccess | None
) -> tuple[Plan, policy.PlanAccess]:
    """`policy.require_plan` on the locked plan: 404 when invisible, 403 when not allowed."""
    plan, decided = _decided(actor, plan_id, access)
    if decided is None:
        raise Http404
    if not decided.may(action):
        raise policy.PermissionDenied
    return plan, decided


def _check_version(current: int, expected: int | None) -> None:
    """Compare If-Match with the version *as the writer sees it* (plans/visibility.py), computed
    under the row locks: 412 when the writer's view is stale. Changes the writer cannot see do
    not make it stale, and the writer's write cannot touch them."""
    if expected is not None and expected != current:
        raise StaleVersionError(current)


def _advance(plan: Plan, actor: User, reason: Reason | str | None, default: str) -> int:
    """Advance the plan version (the plan row is locked); returns the new version."""
    plan.version += 1
    plan.updated_by = actor
    _track_plan(plan, actor, reason, default)
    plan.save(update_fields=["version", "updated_by", "updated_at"])
    return plan.version


def _item_subjects(
    plan: Plan, item: PlanItem | None, access: policy.PlanAccess | None = None
) -> list[uuid.UUID]:
    if item is not None and item.concerns:
        return list(item.concerns)
    if access is not None and access.family_people is not None:
        return list(access.family_people)  # type: ignore[arg-type]
    return family_subjects([plan.family_id]).get(plan.family_id, [])


def _log_item(
    actor: User,
    action: str,
    access: policy.PlanAccess,
    item: PlanItem,
    also: list[uuid.UUID] = (),  # type: ignore[assignment]
) -> None:
    record_access(
        actor=actor,
        action=action,
        subjects=[*_item_subjects(access.plan, item, access), *also],
        family_id=access.plan.family_id,
        plan_id=access.plan.pk,
        object_type=item._meta.model_name,
        object_id=item.pk,
        object_version=item.version,
        access=access,
    )


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
        raise _field_error("family", _("No such family."), "does_not_exist")
    plan = Plan(
        family=family,
        summary=summary,
        period_start=period_start or timezone.localdate(),
        period_end=period_end,
        created_by=actor,
        updated_by=actor,
    )
    _track_plan(plan, actor, None, ChangeCode.PLAN_CREATED)
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
    _save_membership(lead, actor, "plan created")
    family_sync(plan=plan, actor=actor)
    access = policy.require_plan(actor, policy.Action.VIEW, plan)
    record_access(
        actor=actor,
        action=Act.CREATE,
        subjects=_item_subjects(plan, None),
        family_id=family.pk,
        plan_id=plan.pk,
        object_type="plan",
        object_id=plan.pk,
        object_version=plan.version,
        access=access,
    )
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
    plan = _lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.CHANGE, plan)
    if "status" in data and data["status"] != plan.status and not access.may(policy.Action.MANAGE):
        raise policy.PermissionDenied
    if expected_version is not None:
        _check_version(reader_view(access).version, expected_version)
    if "status" in data and data["status"] != plan.status:
        validate_transition(plan.status, data["status"])
    for name in ("summary", "period_start", "period_end", "status"):
        if name in data:
            setattr(plan, name, data[name])
    if plan.period_end and plan.period_start and plan.period_end < plan.period_start:
        raise _field_error("period_end", _("The period cannot end before it starts."))
    plan.version += 1
    plan.updated_by = actor
    _track_plan(plan, actor, reason, ChangeCode.PLAN_CHANGED)
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as exc:
        raise ConflictError(_("This family already has an open plan.")) from exc
    record_access(
        actor=actor,
        action=Act.UPDATE,
        subjects=_item_subjects(plan, None),
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type="plan",
        object_id=plan.pk,
        object_version=plan.version,
        access=access,
    )
    signals.plan_changed.send(sender=Plan, actor=actor, plan=plan)
    return plan


#
# Team
#


def _save_membership(membership: Membership, actor: User, reason: str) -> None:
    _track(membership, actor, reason)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError as exc:
        raise ConflictError(_("This person already has a current place in the team.")) from exc
    policy.grant_membership(membership)


def family_sync(*, plan: Plan, actor: User | None) -> list[Membership]:
    """Make every family member with a linked account a family member of the plan. Idempotent."""
    present = set(
        Membership.objects.filter(plan=plan, ended_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    added = []
    for person in Person.objects.filter(family_id=plan.family_id, user__isnull=False):
        if person.user_id in present:
            continue
        membership = Membership(
            plan=plan,
            user_id=person.user_id,
            role=Membership.PlanRole.FAMILY,
            person=person,
            basis=Membership.Basis.FAMILY,
            created_by=actor,
            updated_by=actor,
        )
        _save_membership(membership, actor, "family member linked")  # type: ignore[arg-type]
        added.append(membership)
    return added


@transaction.atomic
def membership_add(
    *,
    actor: User,
    plan_id: object,
    professional: Professional,
    role: str,
    basis: str,
    consent_id: object | None = None,
    statute: str = "",
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    reason: Reason | str | None = None,
) -> Membership:
    """The lead adds a professional to the team on a consent or a named statute."""
    plan = _lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.MANAGE, plan)
    if not policy.may_join_team(professional):
        raise _field_error("professional", _("Auditors and administrators cannot join a team."))
    if not policy.is_team_role(role):
        raise _field_error("role", _("Family members join through their own accounts."))
    consent = None
    if basis == Membership.Basis.CONSENT:
        if consent_id is None:
            raise _field_error("consent", _("A consent basis needs the consent."), "required")
        consent = policy.consents_for(actor).filter(pk=consent_id, family=plan.family_id).first()
        if consent is None:
            raise _field_error("consent", _("No such consent for this family."), "does_not_exist")
        statute = ""
        if valid_until is None:
            valid_until = consent.valid_until  # a place on a consent ends with the consent
        problem = policy.consent_mismatch(
            consent,
            professional,
            family_id=plan.family_id,
            valid_from=valid_from or timezone.now(),
            valid_until=valid_until,
        )
        if problem is not None:
            raise _field_error("basis", problem, "consent_mismatch")
    elif basis == Membership.Basis.STATUTE:
        if not statute.strip():
            raise _field_error("statute", _("Name the statute and section."), "required")
    else:
        raise _field_error("basis", _("Choose consent or statute."))
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        raise _field_error("valid_until", _("The membership must end after it starts."))
    membership = Membership(
        plan=plan,
        user=professional.user,
        role=role,
        professional=professional,
        basis=basis,
        consent=consent,
        statute=statute,
        valid_from=start,
        valid_until=valid_until,
        created_by=actor,
        updated_by=actor,
    )
    _save_membership(membership, actor, ChangeCode.TEAM_CHANGED)
    _advance(plan, actor, reason, ChangeCode.TEAM_CHANGED)
    record_access(
        actor=actor,
        action=Act.CREATE,
        subjects=_item_subjects(plan, None),
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type="membership",
        object_id=membership.pk,
        access=access,
    )
    signals.membership_added.send(sender=Membership, membership=membership)
    return membership


@transaction.atomic
def membership_end(
    *, actor: User, plan_id: object, membership_id: object, reason: Reason | str | None = None
) -> Membership:
    """The lead ends a place in the team; access stops on the member's next request."""
    plan = _lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.MANAGE, plan)
    membership = Membership.objects.select_for_update().filter(plan=plan, pk=membership_id).first()
    if membership is None:
        raise Http404
    if membership.ended_at is not None:
        return membership
    if policy.is_own_lead_place(membership, actor):
        raise ConflictError(_("Hand the lead to another professional before leaving the team."))
    membership.ended_at = timezone.now()
    membership.updated_by = actor
    _track(membership, actor, ChangeCode.TEAM_CHANGED)
    membership.save()
    policy.revoke_membership(membership)
    _advance(plan, actor, reason, ChangeCode.TEAM_CHANGED)
    record_access(
        actor=actor,
        action=Act.UPDATE,
        subjects=_item_subjects(plan, None),
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type="membership",
        object_id=membership.pk,
        access=access,
    )
    signals.membership_ended.send(sender=Membership, membership=membership)
    return membership


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
            raise _field_error(field, _("No such item in this plan."), "does_not_exist") from exc

    if data.get("concerns"):
        children = policy.nameable_children(access, family_children())
        unknown = [c for c in data["concerns"] if c not in children]
        if unknown:
            raise _field_error("concerns", _("Only children of this family can be named."))
    for name, target in kinds.of(model).references.items():
        if name.endswith("_id"):  # the payload names the item by the field's plain name
            visible(name.removesuffix("_id"), kinds.get(target).model)
    if model is Action:
        kind = data.get("responsible_kind")
        if kind == Action.Responsible.MEMBER and data.get("responsible_user") is not None:
            team = Membership.objects.filter(plan=access.plan, user_id=data["responsible_user"])
            if not team.filter(policy.current_membership_q()).exists():
                raise _field_error(
                    "responsible_user", _("Not a current member of this team."), "does_not_exist"
                )
        if data.get("responsible_person") is not None:
            person_id = data["responsible_person"]
            if person_id not in family_people():
                raise _field_error(
                    "responsible_person", _("Not a member of this family."), "does_not_exist"
                )
        org = data.get("responsible_organization")
        if org is not None and not Organization.objects.filter(pk=org).exists():
            raise _field_error(
                "responsible_organization", _("No such organisation."), "does_not_exist"
            )
    if model is Review and data.get("progress"):
        for index, entry in enumerate(data["progress"]):
            goal = policy.items_for(access, Goal.objects.all()).filter(pk=entry["goal"]).first()
            if goal is None:
                raise _field_error(
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
        raise _field_error(needed, _("Name who is responsible."), "required")


def _resolve_target(access: policy.PlanAccess, data: dict) -> None:
    """Comments and dissents point at the plan or at an item the caller can read."""
    target_type = data.get("target_type")
    if target_type == TargetType.PLAN:
        data["target_id"] = None
        data.setdefault("category", "general")
        return
    if data.get("target_id") is None:
        raise _field_error("target_id", _("Name the item."), "required")
    try:
        target = _resolve_item(access, ITEM_MODELS[target_type], data["target_id"])
    except ValidationError as exc:
        raise _field_error("target_id", _("No such item in this plan."), "does_not_exist") from exc
    # What is said about an item is as sensitive as the item, and reaches the same readers.
    data["category"] = target.category
    data["restricted_by_id"] = target.restricted_by_id
    data.setdefault("concerns", list(target.concerns))


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
    plan, access = _require(actor, plan_id, action, access)
    values = dict(data)
    _resolve_references(access, model, values)
    if model is Action:
        _check_responsible(values)
    _rename_ids(values)
    if action is policy.Action.CHANGE:
        if "category" not in values:
            raise _field_error("category", _("This field is required."), "required")
        policy.require_category_write(access, values["category"])
    elif model is Comment and values.get("target_type") == TargetType.PLAN:
        values["category"] = values.get("category") or "general"
        if values["category"] not in access.reads:
            raise _field_error("category", _("You cannot write in this category."))
    item = model(plan=plan, created_by=actor, updated_by=actor, **values)
    if model is not Acknowledgement:
        item.plan_version = _advance(plan, actor, reason, ChangeCode.ITEM_ADDED)
    else:
        item.plan_version = plan.version
    _track(item, actor, _reason(reason).code or ChangeCode.ITEM_ADDED)
    item.save()
    _log_item(actor, Act.CREATE, access, item)
    if model is not Acknowledgement:
        signals.item_changed.send(
            sender=type(item), actor=actor, plan=plan, item=item, created=True
        )
    return item


def _check_item_version(access: policy.PlanAccess, item: PlanItem, expected: int | None) -> None:
    """If-Match on an item names its version as the writer sees it; compare under the locks."""
    if expected is not None:
        view = reader_view(access)
        _check_version(view.item_version(item._meta.model_name, item.pk, item.version), expected)


def _lock_item(access: policy.PlanAccess, model: type[PlanItem], item_id: object) -> PlanItem:
    item = model.objects.select_for_update().filter(plan=access.plan, pk=item_id).first()
    if item is None:
        raise Http404
    return item


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
    plan, access = _decided(actor, plan_id, access)
    if access is None:
        raise Http404
    if item is None or not access.locked or str(item.pk) != str(item_id):
        item = _lock_item(access, model, item_id)
    policy.require_item(access, _required_action(model), item)
    _check_item_version(access, item, expected_version)
    values = {k: v for k, v in data.items() if k not in _FROZEN}
    # Whom the item concerned before the change: moving it to another child touches both.
    concerned_before = _item_subjects(plan, item, access)
    if _is_contribution(model):
        # Words keep the item they are about; only what was said may change.
        for key in ("target_type", "target_id"):
            if key in values and values[key] != getattr(item, key):
                raise _field_error(key, _("What this is about cannot change."))
        values = {k: v for k, v in values.items() if k in ("text", "kind")}
    else:
        _resolve_references(access, model, values)
        if "category" in values:
            policy.require_category_write(access, values["category"])
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
    item.plan_version = _advance(plan, actor, reason, default_code)
    _track(item, actor, _reason(reason).code or default_code)
    item.save()
    _log_item(actor, Act.UPDATE, access, item, also=concerned_before)
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
        _track(row, actor, ChangeCode.ITEM_CHANGED)
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
    plan, access = _decided(actor, plan_id, access)
    if access is None:
        raise Http404
    if item is None or not access.locked or str(item.pk) != str(item_id):
        item = _lock_item(access, model, item_id)
    policy.require_item(access, _required_action(model), item)
    _check_item_version(access, item, expected_version)
    version = _advance(plan, actor, reason, ChangeCode.ITEM_REMOVED)
    _unlink_dependants(actor, item, version)
    item.plan_version = version
    _track(item, actor, _reason(reason).code or ChangeCode.ITEM_REMOVED)
    _log_item(actor, Act.DELETE, access, item)
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
    plan, access = _require(actor, plan_id, policy.Action.CONTRIBUTE, access)
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
    _track(ack, actor, ChangeCode.ITEM_ADDED)
    ack.save()
    _log_item(actor, Act.CREATE, access, ack)
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

    plan = _lock_plan(plan_id)
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

    plan = _lock_plan(plan_id)
    access = policy.plan_access(actor, plan)
    if access is None:
        raise Http404
    item = _lock_item(access, model, item_id)
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
            raise _field_error(
                "child",
                _("Only a child assessed capable who forbids showing (THL code 3) can hide items."),
                "not_assessed",
            )
    version = _advance(plan, actor, reason, ChangeCode.AUDIENCE_CHANGED)
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
        _track(row, actor, ChangeCode.AUDIENCE_CHANGED)
        row.save()
    _log_item(actor, Act.UPDATE, access, item)
    return item
