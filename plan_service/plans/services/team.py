"""The plan's team: who is a member, on what basis, for what period; the family's own rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.errors import ConflictError
from plan_service.participants.models import (
    Person,
    Professional,
)
from plan_service.plans import signals
from plan_service.plans.models import (
    ChangeCode,
    Membership,
    Plan,
    Reason,
)
from plan_service.plans.services._base import (
    advance,
    field_error,
    lock_plan,
    log_plan_write,
    track,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

Act = AccessEvent.Action

#
# Team
#


def save_membership(membership: Membership, actor: User, reason: str) -> None:
    track(membership, actor, reason)
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
        save_membership(membership, actor, "family member linked")  # type: ignore[arg-type]
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
    plan = lock_plan(plan_id)
    access = policy.require_plan(actor, policy.Action.MANAGE, plan)
    if not policy.may_join_team(professional):
        raise field_error("professional", _("Auditors and administrators cannot join a team."))
    if not policy.is_team_role(role):
        raise field_error("role", _("Family members join through their own accounts."))
    consent = None
    if basis == Membership.Basis.CONSENT:
        if consent_id is None:
            raise field_error("consent", _("A consent basis needs the consent."), "required")
        consent = policy.consents_for(actor).filter(pk=consent_id, family=plan.family_id).first()
        if consent is None:
            raise field_error("consent", _("No such consent for this family."), "does_not_exist")
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
            raise field_error("basis", problem, "consent_mismatch")
    elif basis == Membership.Basis.STATUTE:
        if not statute.strip():
            raise field_error("statute", _("Name the statute and section."), "required")
    else:
        raise field_error("basis", _("Choose consent or statute."))
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        raise field_error("valid_until", _("The membership must end after it starts."))
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
    save_membership(membership, actor, ChangeCode.TEAM_CHANGED)
    advance(plan, actor, reason, ChangeCode.TEAM_CHANGED)
    log_plan_write(
        actor, Act.CREATE, plan, access, object_type="membership", object_id=membership.pk
    )
    signals.membership_added.send(sender=Membership, membership=membership)
    return membership


@transaction.atomic
def membership_end(
    *, actor: User, plan_id: object, membership_id: object, reason: Reason | str | None = None
) -> Membership:
    """The lead ends a place in the team; access stops on the member's next request."""
    plan = lock_plan(plan_id)
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
    track(membership, actor, ChangeCode.TEAM_CHANGED)
    membership.save()
    policy.revoke_membership(membership)
    advance(plan, actor, reason, ChangeCode.TEAM_CHANGED)
    log_plan_write(
        actor, Act.UPDATE, plan, access, object_type="membership", object_id=membership.pk
    )
    signals.membership_ended.send(sender=Membership, membership=membership)
    return membership
