"""Who may do what to which object. Every view, selector, service and export goes through here.

The module answers the three questions of a permission policy:

* may this user do X at all (`may_create_plan`, `is_auditor`, ...);
* may they do X to this object (`require`, `require_item`, which raise 404 when the object is
  invisible and 403 when it is visible but the action is not allowed);
* which objects may they do X to (`plans_for`, `items_for`, `families_for`, ... return querysets
  filtered in SQL).

A professional sees a plan only through a current team membership (period, not ended, and for a
consent basis a consent in force, all checked in SQL on every request) *and* the django-guardian
object permission its plan role was granted. Within a plan the information category decides: see
`SECTOR_CATEGORIES` and docs/permissions.md. It is the only module that imports guardian.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from plan_service.categories import Category
from plan_service.consent.models import Consent
from plan_service.participants.acting import acting_for
from plan_service.participants.models import (
    ROLE_SECTOR,
    Family,
    Guardianship,
    Person,
    Professional,
    Role,
    Sector,
)
from plan_service.plans.models import Membership, Plan, PlanItem

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser

M = TypeVar("M", bound=Model)


class Action(StrEnum):
    """What a user may do to a plan or its items."""

    VIEW = "view"
    CHANGE = "change"  # edit needs, goals, actions and reviews in the writable categories
    CONTRIBUTE = "contribute"  # comment, record views and dissent, acknowledge a version
    MANAGE = "manage"  # the lead's work: team, status, restore
    EXPORT = "export"


_PERMISSION = {action: f"plans.{action}_plan" for action in Action}
_CODENAME = {action: f"{action}_plan" for action in Action}

#
# The rules, as tables a data protection officer can review (mirrored in docs/permissions.md).
#

#: Object permissions granted on the plan for each plan role.
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Membership.PlanRole.LEAD: frozenset(Action),
    Membership.PlanRole.MEMBER: frozenset({Action.VIEW, Action.CHANGE, Action.CONTRIBUTE}),
    Membership.PlanRole.FAMILY: frozenset({Action.VIEW, Action.CONTRIBUTE}),
}

#: Categories a professional reads and writes by default, by the sector of their role.
SECTOR_CATEGORIES: dict[str, frozenset[str]] = {
    Sector.SOCIAL: frozenset({Category.GENERAL, Category.SOCIAL}),
    Sector.HEALTH: frozenset({Category.GENERAL, Category.HEALTH}),
    Sector.EDUCATION: frozenset({Category.GENERAL, Category.EDUCATION}),
}

#: The lead also reads and writes the family's own category.
LEAD_EXTRA_CATEGORIES = frozenset({Category.FAMILY})

#: The family reads every category (less items a mature minor hid from the guardians) and writes
#: its own category; its comments and dissents take the category of the item they are about.
FAMILY_READS = frozenset(Category.values)
FAMILY_WRITES = frozenset({Category.FAMILY})

#: Read-only plans allow only these actions.
READ_ONLY_ACTIONS = frozenset({Action.VIEW, Action.EXPORT})


def _active(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


#
# Model-level questions
#


def professional_of(user: User) -> Professional | None:
    """The user's professional record, or None for family accounts and strangers."""
    if not _active(user):
        return None
    try:
        return user.professional  # type: ignore[union-attr]
    except Professional.DoesNotExist:
        return None


def person_of(user: User) -> Person | None:
    """The family member the account is linked to, or None."""
    if not _active(user):
        return None
    try:
        return user.person  # type: ignore[union-attr]
    except Person.DoesNotExist:
        return None


def user_kind(user: User) -> str:
    """professional, guardian, child, auditor, admin, or none."""
    if not _active(user):
        return "none"
    professional = professional_of(user)
    if professional is not None:
        if professional.role == Role.AUDITOR:
            return "auditor"
        if professional.role == Role.ADMINISTRATOR:
            return "admin"
        return "professional"
    person = person_of(user)
    if person is not None:
        return person.kind
    if user.is_superuser:  # type: ignore[union-attr]
        return "admin"
    return "none"


def may_create_plan(user: User) -> bool:
    """Professionals of a sector role may open plans (and so become their lead)."""
    professional = professional_of(user)
    return professional is not None and professional.role in ROLE_SECTOR


def is_auditor(user: User) -> bool:
    return user_kind(user) == "auditor"


def is_admin(user: User) -> bool:
    return user_kind(user) == "admin"


def requires_second_factor(user: User) -> bool:
    """Whether signing `user` in takes a second factor besides the password.

    Everyone who works with plans or the registry (professionals, auditors, administrators and
    staff accounts) does, unless PROFESSIONAL_SECOND_FACTOR is off (the demo). Family members
    sign in strongly through the identity provider instead, where passwords play no part.
    """
    from django.conf import settings

    if not settings.PROFESSIONAL_SECOND_FACTOR or not _active(user):
        return False
    return professional_of(user) is not None or bool(
        user.is_staff or user.is_superuser  # type: ignore[union-attr]
    )


def require_model(user: User, allowed: bool) -> None:
    """Raise PermissionDenied unless a model-level question was answered yes."""
    if not (_active(user) and allowed):
        raise PermissionDenied


#
# Which plans
#


def current_membership_q(now: dt.datetime | None = None, prefix: str = "") -> Q:
    """Memberships in force: started, not past their end, not ended, basis still valid."""
    at = now or timezone.now()
    consent_ok = ~Q(**{f"{prefix}basis": Membership.Basis.CONSENT}) | Consent.effective_q(
        f"{prefix}consent__", at
    )
    return (
        Q(**{f"{prefix}ended_at__isnull": True, f"{prefix}valid_from__lte": at})
        & (Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at}))
        & consent_ok
    )


def plans_for(user: User, action: Action = Action.VIEW) -> QuerySet[Plan]:
    """The plans `user` may `action`, as one SQL-filtered queryset; empty for anyone else."""
    if not _active(user):
        return Plan.objects.none()
    granted = get_objects_for_user(
        user,
        _PERMISSION[action],
        klass=Plan,
        use_groups=False,
        with_superuser=False,
        accept_global_perms=False,
    )
    qs = granted.filter(
        Exists(
            Membership.objects.filter(plan=OuterRef("pk"), user=user).filter(current_membership_q())
        )
    )
    if action not in READ_ONLY_ACTIONS:
        qs = qs.exclude(status=Plan.Status.COMPLETED)
    return qs


def families_for(user: User) -> QuerySet[Family]:
    """Families whose plan the user may view, plus families the user created that have no plan."""
    if not _active(user):
        return Family.objects.none()
    visible_plans = plans_for(user, Action.VIEW).filter(family=OuterRef("pk"))
    own_new = Q(created_by=user) & ~Exists(Plan.objects.filter(family=OuterRef("pk")))
    return Family.objects.filter(Exists(visible_plans) | own_new)


def persons_for(user: User) -> QuerySet[Person]:
    """Members of the families the user may see."""
    return Person.objects.filter(family__in=families_for(user))


def consent_families_for(user: User) -> QuerySet[Family]:
    """Families whose consents the user handles: as the plan's lead or as one of the family."""
    if not _active(user):
        return Family.objects.none()
    handled = plans_for(user, Action.VIEW).filter(
        Exists(
            Membership.objects.filter(
                plan=OuterRef("pk"),
                user=user,
                role__in=[Membership.PlanRole.LEAD, Membership.PlanRole.FAMILY],
            ).filter(current_membership_q())
        )
    )
    return Family.objects.filter(pk__in=handled.values("family"))


def consents_for(user: User, action: Action = Action.VIEW) -> QuerySet[Consent]:
    """Consents of families where the user leads the plan or belongs to the family.

    VIEW and CHANGE (withdraw) both follow this; members who are neither see no consent records.
    """
    if not _active(user):
        return Consent.objects.none()
    qs = Consent.objects.filter(family__in=consent_families_for(user))
    if action is not Action.VIEW:
        person = person_of(user)
        if person is not None and person.kind == Person.Kind.CHILD:
            qs = qs.filter(grantor=person)  # a child manages only its own consents
    return qs


#
# Inside one plan
#


@dataclass(frozen=True)
class PlanAccess:
    """What one user may do inside one plan right now, and on which basis.

    Built once per request by `plan_access` (two queries) and used for every item check.
    """

    plan: Plan
    membership: Membership
    kind: str  # professional, guardian or child
    actions: frozenset[Action]
    reads: frozenset[str]
    writes: frozenset[str]
    person_id: object | None = None
    sector: str | None = None
    consents: tuple[Consent, ...] = field(default=())
    #: Children whose items this guardian may not see (a custody decision or a placement
    #: restriction excludes them; see `blocked_guardianship_q`).
    hidden_children: frozenset = frozenset()
    #: The child a guardian acts for in this request: only items about the whole family or
    #: about that child are shown.
    acting_for: object | None = None

    @property
    def legal_basis(self) -> str:
        """The basis the decisions of this request rest on, for the access log."""
        m = self.membership
        if m.basis == Membership.Basis.CONSENT:
            return f"consent:{m.consent_id}"
        if m.basis == Membership.Basis.STATUTE:
            return f"statute:{m.statute}"
        return "family"

    def may(self, action: Action) -> bool:
        return action in self.actions

    def as_flags(self) -> dict[str, object]:
        """The caller's rights, for clients to show or hide controls."""
        return {
            "plan_role": self.membership.role,
            "actions": sorted(self.actions),
            "read_categories": sorted(self.reads),
            "write_categories": sorted(self.writes) if Action.CHANGE in self.actions else [],
        }


def plan_access(user: User, plan: Plan) -> PlanAccess | None:
    """The user's access to `plan`, or None when the plan is invisible to them."""
    if not _active(user):
        return None
    membership = (
        Membership.objects.filter(plan=plan, user=user)
        .filter(current_membership_q())
        .select_related("professional", "person", "consent")
        .annotate(
            hidden_children=ArraySubquery(
                Guardianship.objects.filter(guardian_id=OuterRef("person_id"))
                .filter(blocked_guardianship_q())
                .values("child_id")
            )
        )
        .first()
    )
    if membership is None:
        return None
    granted = _granted_actions(user, plan)
    if Action.VIEW not in granted:
        return None
    actions = granted & ROLE_ACTIONS[membership.role]
    if plan.is_read_only:
        actions &= READ_ONLY_ACTIONS
    if membership.role == Membership.PlanRole.FAMILY:
        person = membership.person
        kind = person.kind if person else "guardian"
        hidden = frozenset(membership.hidden_children or ())
        child = acting_for() if kind == Person.Kind.GUARDIAN else None
        if child is not None and child in hidden:
            return None  # a blocked guardian cannot act for that child (the middleware refuses)
        return PlanAccess(
            plan=plan,
            membership=membership,
            kind=kind,
            actions=actions,
            reads=FAMILY_READS,
            writes=FAMILY_WRITES,
            person_id=membership.person_id,
            hidden_children=hidden,
            acting_for=child,
        )
    professional = membership.professional
    sector = ROLE_SECTOR.get(professional.role) if professional else None
    consents = tuple(_consents_covering(plan, professional))
    consented = frozenset(c for consent in consents for c in consent.categories)
    defaults = SECTOR_CATEGORIES.get(sector, frozenset()) if sector else frozenset()
    if membership.basis == Membership.Basis.CONSENT:
        # A consent-based member reads only what consents in force cover, plus general.
        reads = frozenset({Category.GENERAL}) | consented
        writes = reads & (defaults | {Category.GENERAL})
    else:
        reads = defaults | consented
        writes = defaults
    if membership.role == Membership.PlanRole.LEAD:
        reads |= LEAD_EXTRA_CATEGORIES
        writes |= LEAD_EXTRA_CATEGORIES
    return PlanAccess(
        plan=plan,
        membership=membership,
        kind="professional",
        actions=actions,
        reads=reads,
        writes=writes,
        sector=sector,
        consents=consents,
    )


def _granted_actions(user: User, plan: Plan) -> frozenset[Action]:
    from guardian.core import ObjectPermissionChecker

    checker = ObjectPermissionChecker(user)
    codenames = set(checker.get_user_perms(plan))
    return frozenset(a for a in Action if _CODENAME[a] in codenames)


def _consents_covering(plan: Plan, professional: Professional | None) -> list[Consent]:
    """Consents in force for this family whose recipient is the professional's org or sector."""
    if professional is None:
        return []
    recipient = Q(recipient_organization_id=professional.organization_id)
    sector = ROLE_SECTOR.get(professional.role)
    if sector:
        recipient |= Q(recipient_sector=sector)
    return list(Consent.objects.filter(Consent.effective_q(), recipient, family_id=plan.family_id))


def items_for(access: PlanAccess | None, qs: QuerySet[M]) -> QuerySet[M]:
    """The rows of an item queryset this access may read: its plan, its categories, its audience."""
    if access is None:
        return qs.none()
    qs = qs.filter(plan_id=access.plan.pk, category__in=sorted(access.reads))
    if access.hidden_children:
        qs = qs.exclude(concerns__overlap=sorted(access.hidden_children, key=str))
    if access.acting_for is not None:
        qs = qs.filter(Q(concerns=[]) | Q(concerns__contains=[access.acting_for]))
    if access.kind == Person.Kind.GUARDIAN:
        qs = qs.filter(restricted_by__isnull=True)
    elif access.kind == Person.Kind.CHILD:
        qs = qs.filter(Q(restricted_by__isnull=True) | Q(restricted_by_id=access.person_id))
    return qs


def may_read_item(access: PlanAccess | None, item: PlanItem) -> bool:
    """The same rule as `items_for`, for an item already in memory."""
    if access is None or item.plan_id != access.plan.pk or item.category not in access.reads:
        return False
    concerns = set(item.concerns or ())
    if concerns & access.hidden_children:
        return False
    if access.acting_for is not None and concerns and access.acting_for not in concerns:
        return False
    if item.restricted_by_id is None:
        return True
    if access.kind == Person.Kind.GUARDIAN:
        return False
    if access.kind == Person.Kind.CHILD:
        return item.restricted_by_id == access.person_id
    return True


#: Items that are someone's own words: only their author changes or removes them.
AUTHORED_ITEMS = frozenset({"comment", "dissent", "acknowledgement"})


def require_item(access: PlanAccess | None, action: Action, item: PlanItem) -> None:
    """Raise Http404 if the item is invisible, PermissionDenied if the action is not allowed."""
    if not may_read_item(access, item):
        raise Http404
    if access is None or action is Action.VIEW:
        return
    if not access.may(action):
        raise PermissionDenied
    if action is Action.CHANGE and item.category not in access.writes:
        raise PermissionDenied
    if item._meta.model_name in AUTHORED_ITEMS and item.created_by_id != access.membership.user_id:
        raise PermissionDenied


def require_category_write(access: PlanAccess, category: str) -> None:
    """Raise PermissionDenied unless the access may write items of `category`."""
    if not access.may(Action.CHANGE) or category not in access.writes:
        raise PermissionDenied


def require_plan(user: User, action: Action, plan: Plan) -> PlanAccess:
    """Return the user's access to `plan`; 404 when invisible, 403 when `action` is not allowed."""
    access = plan_access(user, plan)
    if access is None:
        raise Http404
    if not access.may(action):
        raise PermissionDenied
    return access


def require(user: User, action: Action, obj: Model) -> None:
    """Raise Http404 if `obj` is invisible to `user`, PermissionDenied if visible but not allowed.

    For rows outside a plan (families, consents); plans and items have richer helpers above.
    """
    scopes = {Family: lambda a: families_for(user), Consent: lambda a: consents_for(user, a)}
    scope = scopes.get(type(obj))
    if scope is None:
        raise PermissionDenied
    if not scope(Action.VIEW).filter(pk=obj.pk).exists():
        raise Http404
    if action is not Action.VIEW and not scope(action).filter(pk=obj.pk).exists():
        raise PermissionDenied


#
# Acting for one's child
#


class ActForBlock(StrEnum):
    """Why a guardian may not act for a child through the service (docs/identity.md)."""

    ADULT = "adult"  # custody ends at 18 (Child Custody Act 361/1983 section 3)
    NON_DISCLOSURE = "non_disclosure"  # turvakielto (Population Information Act 661/2009 s. 36)
    CUSTODY_DECISION = "custody_decision"  # a court decision excludes this guardian
    PLACEMENT_RESTRICTION = "placement_restriction"  # Child Welfare Act 417/2007 ss. 62-63


def blocked_guardianship_q(today: dt.date | None = None, prefix: str = "") -> Q:
    """Guardianships that give this guardian no sight of the child's items at all."""
    day = today or timezone.localdate()
    return Q(**{f"{prefix}excluded_by_custody_decision": True}) | Q(
        **{f"{prefix}restricted_until__gte": day}
    )


def act_for_blocks(guardianship: Guardianship, today: dt.date | None = None) -> list[ActForBlock]:
    """Every reason this guardian may not act for this child now; empty when they may."""
    day = today or timezone.localdate()
    child = guardianship.child
    blocks = []
    born = child.birth_date
    if born is None or _age_on(born, day) >= 18:
        blocks.append(ActForBlock.ADULT)
    if child.non_disclosure or guardianship.guardian.non_disclosure:
        blocks.append(ActForBlock.NON_DISCLOSURE)
    if guardianship.excluded_by_custody_decision:
        blocks.append(ActForBlock.CUSTODY_DECISION)
    if guardianship.restricted_until is not None and guardianship.restricted_until >= day:
        blocks.append(ActForBlock.PLACEMENT_RESTRICTION)
    return blocks


def _age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def wards_of(user: User) -> list[tuple[Guardianship, list[ActForBlock]]]:
    """The children the user is registered guardian of, each with what blocks acting for them."""
    person = person_of(user)
    if person is None or person.kind != Person.Kind.GUARDIAN:
        return []
    rows = Guardianship.objects.filter(guardian=person).select_related("child", "guardian")
    return [(g, act_for_blocks(g)) for g in rows.order_by("child__given_name")]


def require_act_for(user: User, child_id: object) -> Person:
    """The child the user may act for now: 404 if not their ward, PermissionDenied if blocked."""
    for guardianship, blocks in wards_of(user):
        if str(guardianship.child_id) == str(child_id):
            if blocks:
                raise PermissionDenied
            return guardianship.child
    raise Http404


#
# Grants: the only place object permissions are written
#


def grant_membership(membership: Membership) -> None:
    """Give the member's user the object permissions of their plan role on the plan."""
    for action in ROLE_ACTIONS[membership.role]:
        assign_perm(_PERMISSION[action], membership.user, membership.plan)


def revoke_membership(membership: Membership) -> None:
    """Take away every plan permission of the member's user (one current membership per user)."""
    for action in Action:
        remove_perm(_PERMISSION[action], membership.user, membership.plan)


#
# Explanation for the lead and the data protection officer
#


def explain(plan: Plan, member: Membership) -> dict[str, object]:
    """Say, per category, whether `member` can read and write it in `plan`, and why."""
    access = plan_access(member.user, plan)
    professional = member.professional
    sector = ROLE_SECTOR.get(professional.role) if professional else None
    rows = []
    for category in Category.values:
        if access is None:
            reason = "membership_not_in_force"
        elif member.role == Membership.PlanRole.FAMILY:
            reason = "family_member"
        elif category in SECTOR_CATEGORIES.get(sector or "", frozenset()) and (
            member.basis != Membership.Basis.CONSENT or category == Category.GENERAL
        ):
            reason = "sector_default"
        elif member.role == Membership.PlanRole.LEAD and category in LEAD_EXTRA_CATEGORIES:
            reason = "lead"
        elif access is not None and any(category in c.categories for c in access.consents):
            reason = "consent"
        else:
            reason = "not_covered"
        rows.append(
            {
                "category": category,
                "read": bool(access and category in access.reads),
                "write": bool(access and category in access.writes and access.may(Action.CHANGE)),
                "reason": reason,
                "consents": [
                    str(c.pk)
                    for c in (access.consents if access else ())
                    if category in c.categories
                ],
            }
        )
    return {
        "member": str(member.pk),
        "in_force": access is not None,
        "plan_role": member.role,
        "sector": sector,
        "basis": member.basis,
        "categories": rows,
    }
