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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from django.contrib.postgres.aggregates import JSONBAgg
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from plan_service import prepared
from plan_service.categories import Category
from plan_service.clients.models import SCOPE_PLANS_READ, MachineClient
from plan_service.consent.models import Consent
from plan_service.emergency.models import EmergencyAccess
from plan_service.participants.acting import acting_for
from plan_service.participants.models import (
    ROLE_SECTOR,
    Family,
    Guardianship,
    Organization,
    Person,
    Professional,
    Recipient,
    Role,
    Sector,
)
from plan_service.plans import kinds
from plan_service.plans.models import Membership, Plan, PlanItem, PlanUserObjectPermission

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


@dataclass(frozen=True)
class Question:
    """The policy question a view asks before it serves one action (`PolicyViewSet`).

    `user` is a model-level predicate ("may this user do this at all?", 403 when not). A
    question with `plan` set is about the plan in the URL: invisible answers 404, and the
    access must hold that action (403 otherwise). `access` is a further named predicate on
    that access (403). `item` names the object-level action the service asks on the item
    itself (`require_item`) once it has found it, so an invisible item still answers 404
    before a refusal answers 403; `then` names any further policy function the service asks
    (both are documentation: the base asks `user`, `plan` and `access`).
    """

    name: str
    user: Callable[[User], bool] = field(default=lambda user: _active(user), repr=False)
    plan: Action | None = None
    access: Callable[[PlanAccess], bool] | None = field(default=None, repr=False)
    item: Action | None = None
    #: The policy function the service then asks on the object or payload, for the reader.
    then: str = ""


def ask(question: Question, user: User, plan_access: Callable[[], PlanAccess | None]) -> None:
    """Answer `question` for `user`: return when allowed; raise Http404 or PermissionDenied.

    `plan_access` is called only for questions about a plan (and returns the caller's access
    to the plan in the URL, None or Http404 when it is invisible).
    """
    if not question.user(user):
        raise PermissionDenied
    if question.plan is None and question.access is None:
        return
    access = plan_access()
    if access is None:
        raise Http404
    if question.plan is not None and not access.may(question.plan):
        raise PermissionDenied
    if question.access is not None and not question.access(access):
        raise PermissionDenied


def plan_question(action: Action, *, item: Action | None = None, then: str = "") -> Question:
    """May the caller `action` the plan in the URL (and, with `item`, the item it names)?"""
    name = f"plan.{action}" + (f"+item.{item}" if item else "") + (f"+{then}" if then else "")
    return Question(name, plan=action, item=item, then=then)


def access_question(
    name: str, predicate: Callable[[PlanAccess], bool], action: Action = Action.VIEW
) -> Question:
    """A named predicate on the caller's access to the plan in the URL (plan visible first)."""
    return Question(name, plan=action, access=predicate)


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
    """An active person's account. A machine client is never one: every question about people
    answers no for it (deny by default), and only the `client_*` questions below say yes."""
    return bool(
        user and user.is_authenticated and user.is_active and machine_client_of(user) is None
    )


#
# Machine clients (portals): deny by default, one recipient's plans only (docs/clients.md)
#


def machine_client_of(user: User) -> MachineClient | None:
    """The machine client a request authenticated as (its token), or None for people."""
    client = getattr(user, "machine_client", None)
    return client if isinstance(client, MachineClient) else None


def is_machine_client(user: User) -> bool:
    """Whether the caller is a machine client (its token), whatever it may do."""
    return machine_client_of(user) is not None


def may_read_as_client(user: User) -> bool:
    """May this machine client read the plans its recipient may receive?

    Only an active client whose token carries `plans.read`, standing for an active recipient of
    the kind organisation that is its own organisation. Sector and national-repository
    recipients receive pushes from the lead, never pull (docs/clients.md).
    """
    client = machine_client_of(user)
    if client is None or not client.active:
        return False
    scopes = set(getattr(user, "scopes", ()))
    recipient = client.recipient
    return (
        SCOPE_PLANS_READ in scopes
        and recipient.active
        and recipient.kind == Recipient.Kind.ORGANIZATION
        and recipient.organization_id == client.organization_id
    )


def client_recipient_mismatch(recipient: Recipient, organization: Organization | None) -> str:
    """Why a machine client of `organization` may not stand for `recipient` ("" when it may).

    A client pulls for an active organisation recipient of its own organisation; sectors and
    national repositories are pushed to by the lead, never pulled from (`may_read_as_client`).
    """
    if recipient.kind != Recipient.Kind.ORGANIZATION or recipient.organization_id is None:
        return "recipient"
    if organization is None or recipient.organization_id != organization.pk:
        return "organization"
    if not recipient.active:
        return "recipient"
    return ""


def client_plans_for(user: User) -> QuerySet[Plan]:
    """The plans a machine client may receive: those of families its recipient's organisation
    is caring for now, in SQL, on every request.

    A plan is receivable when one of the organisation's professionals is on its team now (a
    membership in force: period, not ended, consent basis in force), or when a consent in force
    of the family is addressed to the organisation itself. A consent to a whole sector widens
    *what* a recipient receives of a plan (`recipient_categories`), not *which* plans a portal
    may pull. Nothing else: a client never sees a plan by any other route.
    """
    if not may_read_as_client(user):
        return Plan.objects.none()
    org_id = machine_client_of(user).recipient.organization_id  # type: ignore[union-attr]
    now = timezone.now()
    team = Membership.objects.filter(
        current_membership_q(now), plan_id=OuterRef("pk"), professional__organization_id=org_id
    )
    addressed = Consent.objects.filter(
        Consent.effective_q(now=now),
        family_id=OuterRef("family_id"),
        recipient_organization_id=org_id,
    )
    return Plan.objects.filter(Exists(team) | Exists(addressed))


def client_export_access(user: User, plan_id: object) -> PlanAccess:
    """What a machine client receives of one plan: its recipient's view (`recipient_categories`:
    the sector's categories by law plus consents in force addressed to it), read only.

    Http404 when the plan is not one the client may receive (the same as a missing plan).
    """
    try:
        pk = uuid.UUID(str(plan_id))
    except ValueError:
        raise Http404 from None
    plan = client_plans_for(user).select_related("family").filter(pk=pk).first()
    if plan is None:
        raise Http404
    recipient = machine_client_of(user).recipient  # type: ignore[union-attr]
    consents = tuple(recipient_consents(recipient, plan.family_id))
    return PlanAccess(
        plan=plan,
        # No one is a member: the access stands for the recipient (nothing reads its role).
        membership=Membership(plan=plan, role="", basis=""),
        kind="recipient",
        actions=frozenset({Action.EXPORT}),
        reads=recipient_categories(recipient, consents),
        writes=frozenset(),
        sector=recipient.sector,
        consents=consents,
        recipient=recipient,
        client=machine_client_of(user),
    )


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


class UserKind(StrEnum):
    """What kind of account a user has, as far as the policy is concerned."""

    PROFESSIONAL = "professional"
    GUARDIAN = "guardian"
    CHILD = "child"
    AUDITOR = "auditor"
    ADMIN = "admin"
    NONE = "none"


def user_kind(user: User) -> str:
    """professional, guardian, child, auditor, admin, or none."""
    if not _active(user):
        return UserKind.NONE
    professional = professional_of(user)
    if professional is not None:
        if professional.role == Role.AUDITOR:
            return UserKind.AUDITOR
        if professional.role == Role.ADMINISTRATOR:
            return UserKind.ADMIN
        return UserKind.PROFESSIONAL
    person = person_of(user)
    if person is not None:
        return person.kind
    if user.is_superuser:  # type: ignore[union-attr]
        return UserKind.ADMIN
    return UserKind.NONE


def may_create_plan(user: User) -> bool:
    """Professionals of a sector role may open plans (and so become their lead)."""
    professional = professional_of(user)
    return professional is not None and professional.role in ROLE_SECTOR


def is_auditor(user: User) -> bool:
    """The organisation's data protection officer: reads the logs, never plan content."""
    return user_kind(user) == UserKind.AUDITOR


def is_admin(user: User) -> bool:
    """An administrator (or a superuser without a professional record): the registry only."""
    return user_kind(user) == UserKind.ADMIN


def may_use_admin(user: User) -> bool:
    """The Django admin (the registry only): administrators, never a professional of a team,
    an auditor or a family member, even with a staff flag."""
    return is_admin(user)


def is_signed_in(user: User) -> bool:
    """Any active, authenticated account; what it then sees is scoped by the `*_for` answers."""
    return _active(user)


def may_list_professionals(user: User) -> bool:
    """Professionals are listed to professionals, administrators and auditors, not to families."""
    return user_kind(user) in (UserKind.PROFESSIONAL, UserKind.ADMIN, UserKind.AUDITOR)


def may_join_team(professional: Professional) -> bool:
    """Only professionals of a sector role join care teams (never auditors or administrators)."""
    return professional.role in ROLE_SECTOR


def is_team_role(role: str) -> bool:
    """A plan role the lead may give a professional (family members join through accounts)."""
    return role in (Membership.PlanRole.LEAD, Membership.PlanRole.MEMBER)


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


def plans_for(
    user: User, action: Action = Action.VIEW, *, now: dt.datetime | None = None
) -> QuerySet[Plan]:
    """The plans `user` may `action` (at `now`, by default the current time), as one
    SQL-filtered queryset; empty for anyone else."""
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
            Membership.objects.filter(plan=OuterRef("pk"), user=user).filter(
                current_membership_q(now)
            )
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
    #: The consents in force covering the member. From `plan_access_for` and `plan_accesses`
    #: they hold only what the rules read (`_consent_rows`: the id, the categories, the
    #: recipient): not rows to show or to export, which `plan_access` and `export_access` give
    #: whole.
    consents: tuple[Consent, ...] = field(default=())
    #: The family's people (ids) and children (ids), when the access was read with them
    #: (`plan_access_for`); None when not loaded.
    family_people: tuple[object, ...] | None = None
    family_children: tuple[object, ...] | None = None
    #: Decided after the plan row was locked in the current transaction (`plan_access_for`
    #: with lock): a write service may use it instead of locking and deciding again.
    locked: bool = False
    #: Set when the access stands for a named recipient of an export (`export_access`): then
    #: `reads` is what the recipient may receive and `consents` the consents that give it.
    recipient: Recipient | None = None
    #: The emergency (break-glass) opening this access rests on, when it is not a membership.
    emergency: EmergencyAccess | None = None
    #: Children whose items this guardian may not see (a custody decision or a placement
    #: restriction excludes them; see `blocked_guardianship_q`).
    hidden_children: frozenset = frozenset()
    #: The child a guardian acts for in this request: only items about the whole family or
    #: about that child are shown.
    acting_for: object | None = None
    #: Set when a machine client reads through this access (`client_export_access`).
    client: MachineClient | None = None

    @property
    def legal_basis(self) -> str:
        """The basis the decisions of this request rest on, for the access log."""
        if self.client is not None and self.recipient is not None:
            parts = [
                f"statute:{self.recipient.sector}",
                *(f"consent:{c.pk}" for c in self.consents),
            ]
            return ";".join(parts)
        if self.emergency is not None:
            return f"emergency:{self.emergency.reason_code}:{self.emergency.pk}"
        m = self.membership
        if m.basis == Membership.Basis.CONSENT:
            return f"consent:{m.consent_id}"
        if m.basis == Membership.Basis.STATUTE:
            return f"statute:{m.statute}"
        return "family"

    def may(self, action: Action) -> bool:
        return action in self.actions

    @property
    def visibility(self) -> str:
        """Which items this access reads, as a key: equal keys read exactly the same items.

        Derived from the answer `items_for` applies (the categories read and the restriction
        audience), so readers whose rights give the same view share one rendering of the plan.
        """
        if self.kind == Person.Kind.GUARDIAN:
            audience = "unrestricted"
        elif self.kind == Person.Kind.CHILD:
            audience = f"child:{self.person_id}"
        else:
            audience = "all"
        key = f"{audience}|{','.join(sorted(self.reads))}"
        if self.hidden_children:
            key += "|hidden:" + ",".join(sorted(str(c) for c in self.hidden_children))
        if self.acting_for is not None:
            key += f"|for:{self.acting_for}"
        return key

    def as_flags(self) -> dict[str, object]:
        """The caller's rights, for clients to show or hide controls."""
        return {
            "plan_role": self.membership.role,
            "actions": sorted(self.actions),
            "read_categories": sorted(self.reads),
            "write_categories": sorted(self.writes) if Action.CHANGE in self.actions else [],
        }


def _blocked_children(today: dt.date | None = None) -> ArraySubquery:
    """Per membership: the children its guardian may not see (empty for everyone else)."""
    return ArraySubquery(
        Guardianship.objects.filter(guardian_id=OuterRef("person_id"))
        .filter(blocked_guardianship_q(today))
        .values("child_id")
    )


def plan_access(user: User, plan: Plan) -> PlanAccess | None:
    """The user's access to `plan`, or None when the plan is invisible to them."""
    if not _active(user):
        return None
    membership = (
        Membership.objects.filter(plan=plan, user=user)
        .filter(current_membership_q())
        .select_related("professional", "person", "consent")
        .annotate(hidden_children=_blocked_children())
        .first()
    )
    if membership is None:
        return emergency_access(user, plan)
    granted = _granted_actions(user, plan)
    if Action.VIEW not in granted:
        return None
    consents: tuple[Consent, ...] = ()
    if membership.role != Membership.PlanRole.FAMILY:
        consents = tuple(_consents_covering(plan, membership.professional))
    return _decide(plan, membership, granted, consents)


def plan_access_for(user: User, plan_id: object, *, lock: bool = False) -> PlanAccess | None:
    """`plans_for(user, VIEW)` and `plan_access` for one plan id, in one SQL statement.

    The plan, the current membership, the object permissions granted on the plan, the consents
    covering a professional and the family's people are read together; the rules applied to
    them are `_decide`'s, the same as `plan_access`. With `lock`, the plan row is locked first
    (for a write) and everything is read after the lock is granted, so the decision sees every
    change committed before it (one statement more). The statement is compiled once per shape
    and process (`prepared`): it is the one every plan request runs.
    """
    if not _active(user):
        return None
    try:
        pk = uuid.UUID(str(plan_id))
    except ValueError:
        return None
    if lock and not prepared.rows(
        ("plan_lock",),
        lambda plan: Plan.objects.select_for_update().filter(pk=plan).order_by().values("pk"),
        {"plan": prepared.Slot.uuid(1)},
        {"plan": pk},
    ):
        return None
    professional = professional_of(user)
    organization, sector = _recipients_of(professional) if professional else (None, None)
    values: dict[str, object] = {
        "plan": pk,
        "user": user.pk,
        "now": timezone.now(),
        "today": timezone.localdate(),
    }
    placeholders: dict[str, object] = {
        "plan": prepared.Slot.uuid(1),
        "user": prepared.Slot.integer(1),
        "now": prepared.Slot.moment(1),
        "today": prepared.Slot.day(1),
    }
    if organization is not None:
        values["organization"], placeholders["organization"] = organization, prepared.Slot.uuid(2)
    if sector:
        values["sector"], placeholders["sector"] = sector, prepared.Slot.text(1)
    shape = ("plan_access_for", professional is not None, organization is not None, bool(sector))
    found = prepared.rows(
        shape,
        lambda **v: _access_statement(
            professional=professional is not None,
            organization=v.get("organization"),
            sector=v.get("sector"),
            **{k: v[k] for k in ("plan", "user", "now", "today")},
        ),
        placeholders,
        values,
    )
    if not found:
        plan = Plan.objects.select_related("family").filter(pk=pk).first()
        return emergency_access(user, plan) if plan is not None else None
    row = found[0]
    membership = prepared.instance(Membership, row)
    plan = prepared.instance(Plan, row, "plan__")
    plan.family = prepared.instance(Family, row, "plan__family__")
    membership.plan = plan
    membership.person = prepared.instance(Person, row, "person__")
    membership.hidden_children = row["hidden_children"]
    if membership.professional_id is not None:
        if professional is None or membership.professional_id != professional.pk:
            return plan_access(user, plan)  # not expected; decide the long way
        membership.professional = professional
    granted = frozenset(a for a in Action if _CODENAME[a] in set(row["granted_codenames"] or ()))
    if Action.VIEW not in granted:
        return None
    consents: tuple[Consent, ...] = ()
    if membership.role != Membership.PlanRole.FAMILY and professional is not None:
        consents = _consent_rows(row["covering_consents"], plan.family_id)
    return _decide(
        plan,
        membership,
        granted,
        consents,
        family_people=tuple(row["people_ids"] or ()),
        family_children=tuple(row["children_ids"] or ()),
        locked=lock,
    )


def _access_statement(
    *,
    plan: object,
    user: object,
    now: dt.datetime,
    today: dt.date,
    professional: bool,
    organization: object | None,
    sector: str | None,
) -> QuerySet[Membership]:
    """The statement `plan_access_for` runs: the user's current membership of the plan with the
    plan, its family, the member's person, the granted codenames, the family's people and
    children, the children a guardian may not see and (for a professional) the covering
    consents, as one row of values."""
    people = Person.objects.filter(family_id=OuterRef("plan__family_id")).order_by()
    annotations: dict[str, object] = {
        "granted_codenames": ArraySubquery(
            PlanUserObjectPermission.objects.filter(
                content_object_id=OuterRef("plan_id"), user_id=user
            ).values("permission__codename")
        ),
        "people_ids": ArraySubquery(people.values("pk")),
        "children_ids": ArraySubquery(people.filter(kind=Person.Kind.CHILD).values("pk")),
        "hidden_children": _blocked_children(today),
    }
    if professional:
        annotations["covering_consents"] = _consents_json(
            Consent.objects.filter(
                Consent.effective_q(now=now),
                _addressed_q(organization, sector),
                family_id=OuterRef("plan__family_id"),
            )
        )
    columns = [
        *prepared.columns(Membership),
        *prepared.columns(Plan, "plan__"),
        *prepared.columns(Family, "plan__family__"),
        *prepared.columns(Person, "person__"),
    ]
    return (
        Membership.objects.filter(plan_id=plan, user_id=user)
        .filter(current_membership_q(now))
        .annotate(**annotations)
        .order_by("pk")
        .values(*columns, *annotations)[:1]
    )


def _decide(
    plan: Plan,
    membership: Membership,
    granted: frozenset[Action],
    consents: tuple[Consent, ...],
    **loaded: object,
) -> PlanAccess | None:
    """The rules: what a current member holding `granted` may do and read in `plan`."""
    actions = granted & ROLE_ACTIONS[membership.role]
    if plan.is_read_only:
        actions &= READ_ONLY_ACTIONS
    if membership.role == Membership.PlanRole.FAMILY:
        person = membership.person
        kind = person.kind if person else "guardian"
        hidden = frozenset(membership.hidden_children or ())
        child = acting_for(membership.user_id) if kind == Person.Kind.GUARDIAN else None
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
            **loaded,
        )
    professional = membership.professional
    sector = ROLE_SECTOR.get(professional.role) if professional else None
    grounds = reading_grounds(
        role=membership.role, basis=membership.basis, sector=sector, consents=consents
    )
    reads = frozenset(c for c, ground in grounds.items() if ground != Ground.NOT_COVERED)
    writes = _professional_writes(
        role=membership.role, basis=membership.basis, sector=sector, reads=reads
    )
    return PlanAccess(
        plan=plan,
        membership=membership,
        kind="professional",
        actions=actions,
        reads=reads,
        writes=writes,
        sector=sector,
        consents=consents,
        **loaded,
    )


class Ground(StrEnum):
    """Why a member reads a category (or does not), as `explain` reports it."""

    SECTOR_DEFAULT = "sector_default"
    LEAD = "lead"
    CONSENT = "consent"
    NOT_COVERED = "not_covered"
    FAMILY_MEMBER = "family_member"
    MEMBERSHIP_NOT_IN_FORCE = "membership_not_in_force"


def reading_grounds(
    *, role: str, basis: str, sector: str | None, consents: tuple[Consent, ...]
) -> dict[str, Ground]:
    """Per category, the ground on which a professional member reads it, or NOT_COVERED.

    The one statement of the category rule for professionals: `_decide` (and so `plan_access`,
    `plan_access_for`, `plan_accesses`) reads what has a ground, and `explain` reports the
    ground. A statutory member reads their sector's defaults; a consent-based member reads
    general only by default; the lead also the family's own; consents in force add theirs.
    """
    defaults = SECTOR_CATEGORIES.get(sector, frozenset()) if sector else frozenset()
    base = frozenset({Category.GENERAL}) if basis == Membership.Basis.CONSENT else defaults
    consented = frozenset(c for consent in consents for c in consent.categories)
    grounds: dict[str, Ground] = {}
    for category in Category.values:
        if category in base:
            grounds[category] = Ground.SECTOR_DEFAULT
        elif role == Membership.PlanRole.LEAD and category in LEAD_EXTRA_CATEGORIES:
            grounds[category] = Ground.LEAD
        elif category in consented:
            grounds[category] = Ground.CONSENT
        else:
            grounds[category] = Ground.NOT_COVERED
    return grounds


def _professional_writes(
    *, role: str, basis: str, sector: str | None, reads: frozenset[str]
) -> frozenset[str]:
    """What a professional member writes: their sector's defaults (on a consent basis only
    those they also read, and general); the lead also the family's own."""
    defaults = SECTOR_CATEGORIES.get(sector, frozenset()) if sector else frozenset()
    if basis == Membership.Basis.CONSENT:
        writes = reads & (defaults | {Category.GENERAL})
    else:
        writes = defaults
    if role == Membership.PlanRole.LEAD:
        writes |= LEAD_EXTRA_CATEGORIES
    return writes


def plan_accesses(plan: Plan) -> list[PlanAccess]:
    """Every current member's access to `plan`, in one statement whatever the team's size.

    The same rules as `plan_access` (one membership in force, the granted object permissions,
    the consents covering each professional), for deciding who may see an event (notices).
    Every write runs it, so the statement is compiled once per process (`prepared`). Each row
    carries the family's consents in force, as the fields the rules read (`_consents_json`).
    """
    members = prepared.rows(
        ("plan_accesses",),
        _members_statement,
        {
            "plan": prepared.Slot.uuid(1),
            "now": prepared.Slot.moment(1),
            "today": prepared.Slot.day(1),
        },
        {"plan": plan.pk, "now": timezone.now(), "today": timezone.localdate()},
    )
    consents = _consent_rows(members[0]["family_consents"] if members else None, plan.family_id)
    by_codename = {c: a for a, c in _CODENAME.items()}
    out = []
    for row in members:
        if not row["user__is_active"]:
            continue
        actions = frozenset(
            by_codename[c] for c in row["granted_codenames"] or () if c in by_codename
        )
        if Action.VIEW not in actions:
            continue
        membership = prepared.instance(Membership, row)
        membership.plan = plan
        membership.professional = prepared.instance(Professional, row, "professional__")
        membership.person = prepared.instance(Person, row, "person__")
        membership.consent = prepared.instance(Consent, row, "consent__")
        membership.hidden_children = row["hidden_children"]
        professional = membership.professional
        covering = []
        if professional is not None:
            covering = [c for c in consents if consent_addressed_to(c, professional)]
        access = _decide(plan, membership, actions, tuple(covering))
        if access is not None:
            out.append(access)
    return out


def _consents_json(consents: QuerySet[Consent]) -> Subquery:
    """One family's `consents` as a JSON column of a prepared statement: the fields the rules
    read (id, categories, whom each is addressed to), ordered by id; `_consent_rows` reads
    them back. Used by `plan_access_for` (the consents covering the reader) and
    `plan_accesses` (the family's consents in force)."""
    return Subquery(
        consents.order_by()
        .values("family_id")
        .annotate(
            rows=JSONBAgg(
                JSONObject(
                    id="id",
                    categories="categories",
                    recipient_organization_id="recipient_organization_id",
                    recipient_sector="recipient_sector",
                ),
                order_by="id",
            )
        )
        .values("rows")
    )


def _consent_rows(rows: list[dict[str, Any]] | None, family_id: object) -> tuple[Consent, ...]:
    """The consents of a `_consents_json` column: partial rows, with what the rules read."""
    return tuple(
        Consent(
            pk=uuid.UUID(row["id"]),
            family_id=family_id,
            categories=row["categories"],
            recipient_organization_id=(
                uuid.UUID(row["recipient_organization_id"])
                if row["recipient_organization_id"]
                else None
            ),
            recipient_sector=row["recipient_sector"],
        )
        for row in rows or ()
    )


def _members_statement(*, plan: object, now: dt.datetime, today: dt.date) -> QuerySet[Membership]:
    """The statement `plan_accesses` runs: the plan's memberships in force, each with its
    professional, person and consent, whether its user is active, the codenames granted to
    its user on the plan, the children a guardian may not see and the family's consents in
    force, as rows of values."""
    annotations: dict[str, object] = {
        "granted_codenames": ArraySubquery(
            PlanUserObjectPermission.objects.filter(
                content_object_id=OuterRef("plan_id"), user_id=OuterRef("user_id")
            ).values("permission__codename")
        ),
        "hidden_children": _blocked_children(today),
        # Not correlated with the member row (the plan's family, an InitPlan): run once.
        "family_consents": _consents_json(
            Consent.objects.filter(
                Consent.effective_q(now=now),
                family_id=Subquery(Plan.objects.filter(pk=plan).values("family_id")[:1]),
            )
        ),
    }
    columns = [
        *prepared.columns(Membership),
        *prepared.columns(Professional, "professional__"),
        *prepared.columns(Person, "person__"),
        *prepared.columns(Consent, "consent__"),
        "user__is_active",
    ]
    return (
        Membership.objects.filter(plan_id=plan)
        .filter(current_membership_q(now))
        .annotate(**annotations)
        .order_by("valid_from", "pk")
        .values(*columns, *annotations)
    )


#
# Emergency (break-glass) access
#


def may_break_glass(user: User) -> bool:
    """A professional of a sector role whose organisation an administrator allowed to use it."""
    professional = professional_of(user)
    return (
        professional is not None
        and professional.role in ROLE_SECTOR
        and professional.organization.emergency_access_allowed
    )


def emergency_in_force(user: User, plan: Plan) -> EmergencyAccess | None:
    """The user's emergency opening of `plan` in force now (by the clock), if any."""
    if not may_break_glass(user):
        return None
    return (
        EmergencyAccess.objects.filter(
            plan=plan, user=user, expires_at__gt=timezone.now(), ended_at__isnull=True
        )
        .order_by("-expires_at")
        .first()
    )


def emergency_access(user: User, plan: Plan) -> PlanAccess | None:
    """Read-only access through an emergency opening: only the categories the professional's
    sector may ever see by default, never the family's own, never writes or exports."""
    grant = emergency_in_force(user, plan)
    if grant is None:
        return None
    professional = professional_of(user)
    sector = ROLE_SECTOR[professional.role]  # type: ignore[union-attr]
    membership = Membership(
        plan=plan,
        user=user,  # type: ignore[misc]
        role="emergency",
        professional=professional,
        basis=Membership.Basis.STATUTE,
        statute=f"emergency:{grant.reason_code}",
    )
    return PlanAccess(
        plan=plan,
        membership=membership,
        kind="professional",
        actions=frozenset({Action.VIEW}),
        reads=SECTOR_CATEGORIES[sector],
        writes=frozenset(),
        sector=sector,
        emergency=grant,
    )


def emergency_plan(user: User, plan_id: object) -> Plan | None:
    """A plan the user reaches only through an emergency opening in force."""
    plan = Plan.objects.select_related("family").filter(pk=plan_id).first()
    if plan is None or emergency_in_force(user, plan) is None:
        return None
    return plan


def auditor_log_scope(user: User, *, as_of: dt.datetime | None = None) -> Q | None:
    """Which rows of the access and disclosure logs an auditor reads, as a filter on log rows
    (`actor_organization_id`, `plan_id`): those by the people of the auditor's organisation or
    about plans it has worked on (with `as_of`, by then: an export's pages keep the scope it
    was counted with). None for anyone who is not an auditor (they read none)."""
    professional = professional_of(user)
    if professional is None or not is_auditor(user):
        return None
    org = professional.organization_id
    # Correlated per log row (index on memberships by plan), not a scan of every membership.
    worked_on = Membership.objects.filter(
        plan_id=OuterRef("plan_id"), professional__organization_id=org
    )
    if as_of is not None:
        worked_on = worked_on.filter(created_at__lte=as_of)
    return Q(actor_organization_id=org) | Q(Exists(worked_on))


def emergency_reviews_for(user: User) -> QuerySet[EmergencyAccess]:
    """Openings an auditor reviews: those made by professionals of the auditor's organisation."""
    if not is_auditor(user):
        return EmergencyAccess.objects.none()
    return EmergencyAccess.objects.filter(
        organization_id=professional_of(user).organization_id  # type: ignore[union-attr]
    )


#
# Background jobs and notices: their owner only
#


def jobs_for(user: User) -> QuerySet[Any]:
    from plan_service.jobs.models import BackgroundJob

    if not _active(user):
        return BackgroundJob.objects.none()
    return BackgroundJob.objects.filter(requested_by=user)


def notifications_for(user: User) -> QuerySet[Any]:
    from plan_service.notifications.models import Notification

    if not _active(user):
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user)


def _granted_actions(user: User, plan: Plan) -> frozenset[Action]:
    from guardian.core import ObjectPermissionChecker

    checker = ObjectPermissionChecker(user)
    codenames = set(checker.get_user_perms(plan))
    return frozenset(a for a in Action if _CODENAME[a] in codenames)


def _consents_covering(plan: Plan, professional: Professional | None) -> list[Consent]:
    """Consents in force for this family whose recipient is the professional's org or sector."""
    if professional is None:
        return []
    return list(
        Consent.objects.filter(
            Consent.effective_q(), _recipient_q(professional), family_id=plan.family_id
        )
    )


def _recipients_of(professional: Professional) -> tuple[object, str | None]:
    """Whom a consent must be addressed to to cover this professional: their organisation, or
    the sector of their role. The one statement of the rule; `_recipient_q` (SQL) and
    `consent_addressed_to` (Python) both read it, and a test holds them to the same answers."""
    return professional.organization_id, ROLE_SECTOR.get(professional.role)


def _recipient_q(professional: Professional) -> Q:
    """Consents whose recipient is the professional's organisation or sector."""
    return _addressed_q(*_recipients_of(professional))


def _addressed_q(organization: object, sector: str | None) -> Q:
    """Consents addressed to this organisation or (when given) this sector."""
    recipient = Q(recipient_organization_id=organization)
    if sector:
        recipient |= Q(recipient_sector=sector)
    return recipient


def consent_addressed_to(consent: Consent, professional: Professional) -> bool:
    """Whether `consent` is addressed to the professional's organisation or sector."""
    organization, sector = _recipients_of(professional)
    return consent.recipient_organization_id == organization or bool(
        sector and consent.recipient_sector == sector
    )


def consent_mismatch(
    consent: Consent,
    professional: Professional,
    *,
    family_id: object,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
) -> str | None:
    """Why `consent` cannot be the basis of this professional's place in a family's plan team.

    None when it can: the consent is an active consent (not withdrawn, not a refusal) of this
    family about its own children, addressed to the professional's organisation or to the
    sector of their role, and the membership's period lies within the consent's. Returns a
    translated reason otherwise (the caller answers 400 naming `basis`).
    """
    from django.utils.translation import gettext as _

    if consent.family_id != family_id or consent.status != Consent.Status.ACTIVE:
        return _("The consent is not an active consent of this family.")
    if consent.subjects.exclude(family_id=family_id).exists():
        return _("The consent is about people outside this family.")
    if not consent_addressed_to(consent, professional):
        return _("The consent is not addressed to this professional's organisation or sector.")
    if valid_from < consent.valid_from:
        return _("The membership would start before the consent does.")
    ends = consent.valid_until
    if ends is not None and (valid_until is None or valid_until > ends or valid_from >= ends):
        return _("The membership would last beyond the consent.")
    return None


def items_for(access: PlanAccess | None, qs: QuerySet[M]) -> QuerySet[M]:
    """The rows of an item queryset this access may read: its plan, its categories, its audience."""
    if access is None:
        return qs.none()
    return _items_rule(access, qs.filter(plan_id=access.plan.pk))


def items_for_many(accesses: list[PlanAccess], qs: QuerySet[M]) -> QuerySet[M]:
    """`items_for` over the plans of several accesses that read alike (same kind, categories
    and person, as every plan of one export recipient does): one query for all of them."""
    if not accesses:
        return qs.none()
    first = accesses[0]
    if any(
        (a.kind, a.reads, a.person_id, a.hidden_children, a.acting_for)
        != (first.kind, first.reads, first.person_id, first.hidden_children, first.acting_for)
        for a in accesses
    ):
        raise ValueError("items_for_many needs accesses that read alike")
    plans = sorted({a.plan.pk for a in accesses}, key=str)
    return _items_rule(first, qs.filter(plan_id__in=plans))


class ItemsShape(NamedTuple):
    """What `items_for` compiles to for an access, apart from its plan and its person: accesses
    of one shape read by the same statement, with their own plan (and, when `person`, their
    own person id) as its values. A key for a statement compiled once (`prepared`)."""

    kind: str
    reads: tuple[str, ...]
    #: The rule names the reader's person (a child sees what they restricted themselves).
    person: bool


def items_shape(access: PlanAccess) -> ItemsShape | None:
    """The shape of `items_for(access, ...)` (`ItemsShape`); None when the rule holds values
    beyond the plan and the person (hidden children, a child acted for: arrays) or reads no
    category (the ORM compiles it to nothing). Kept beside `_items_rule`: whatever the rule
    reads of the access must be here, or two accesses with different rights would share a
    compiled statement."""
    if access.hidden_children or access.acting_for is not None or not access.reads:
        return None
    return ItemsShape(access.kind, tuple(sorted(access.reads)), access.kind == Person.Kind.CHILD)


def _items_rule(access: PlanAccess, qs: QuerySet[M]) -> QuerySet[M]:
    """The category and audience rule of `items_for`, without the plan condition (its shape:
    `items_shape`)."""
    qs = qs.filter(category__in=sorted(access.reads))
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
    return sees_restricted(access.kind, access.person_id, item.restricted_by_id)


def item_write_action(model: type[PlanItem]) -> Action:
    """The plan action adding, changing or removing an item of this kind needs: someone's own
    words (declared `authored`, plans/kinds.py) take CONTRIBUTE, every other kind CHANGE."""
    return Action.CONTRIBUTE if kinds.of(model).authored else Action.CHANGE


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
    # Someone's own words (declared `authored`, plans/kinds.py): only their author changes them.
    if kinds.of(item).authored and item.created_by_id != access.membership.user_id:
        raise PermissionDenied


def may_add_item(access: PlanAccess | None, model: type[PlanItem]) -> bool:
    """May the holder of `access` add an item of this kind in some category (the pages offer
    "add" only then)? The same rule the service asks: the kind's plan action, and a category
    to write in for kinds written through CHANGE."""
    if access is None:
        return False
    action = item_write_action(model)
    return access.may(action) and (action is not Action.CHANGE or bool(access.writes))


def may_change_item(access: PlanAccess | None, item: PlanItem) -> bool:
    """`require_item(access, <the kind's write action>, item)` as a yes or no."""
    try:
        require_item(access, item_write_action(type(item)), item)
    except (Http404, PermissionDenied):
        return False
    return True


def may_child_restrict(access: PlanAccess | None, item: PlanItem, child_id: object | None) -> bool:
    """May a child with an account hide `item` from the guardians (or show it again) themself?

    Only for themself (`child_id` is their own person, or None to lift their own restriction),
    only on an item about them alone (its `concerns` names just them), and only while they may
    contribute. The maturity assessment (THL code 3) is checked by the service, as for a
    professional's restriction. A child never lifts a restriction someone else's wish set.
    """
    if access is None or access.kind != Person.Kind.CHILD or not access.may(Action.CONTRIBUTE):
        return False
    if not may_read_item(access, item):
        return False
    me = access.person_id
    if child_id is None:
        return item.restricted_by_id is not None and str(item.restricted_by_id) == str(me)
    if str(child_id) != str(me) or item.restricted_by_id not in (None, me):
        return False
    return [str(c) for c in item.concerns] == [str(me)]


def require_category_write(access: PlanAccess, category: str) -> None:
    """Raise PermissionDenied unless the access may write items of `category`."""
    if not access.may(Action.CHANGE) or category not in access.writes:
        raise PermissionDenied


def may_restore_item(access: PlanAccess | None, categories: set[str]) -> bool:
    """May the holder bring an item back to an earlier version whose category, and the item's
    category now, are `categories`? The lead (MANAGE), writing both (`item_restore` saves the
    old values through `item_update`, which asks `require_category_write`)."""
    if access is None or not access.may(Action.MANAGE):
        return False
    return access.may(Action.CHANGE) and categories <= set(access.writes)


def require_plan(user: User, action: Action, plan: Plan) -> PlanAccess:
    """Return the user's access to `plan`; 404 when invisible, 403 when `action` is not allowed."""
    access = plan_access(user, plan)
    if access is None:
        raise Http404
    if not access.may(action):
        raise PermissionDenied
    return access


#
# Named questions inside one plan: views and services ask these instead of comparing roles
#


def is_professional(access: PlanAccess | None) -> bool:
    """Whether the access is a professional's (a team member or an emergency opening)."""
    return access is not None and access.kind == UserKind.PROFESSIONAL


def is_family(access: PlanAccess | None) -> bool:
    """Whether the access is a family member's (a guardian or a child with an account)."""
    return access is not None and access.kind in (Person.Kind.GUARDIAN, Person.Kind.CHILD)


def is_guardian(access: PlanAccess | None) -> bool:
    """Whether the access is a guardian's."""
    return access is not None and access.kind == Person.Kind.GUARDIAN


def is_child(access: PlanAccess | None) -> bool:
    """Whether the access is the child's own (a child with an account)."""
    return access is not None and access.kind == Person.Kind.CHILD


def is_lead(access: PlanAccess | None) -> bool:
    """Whether the access rests on the plan's lead membership (also on a completed plan)."""
    return access is not None and access.membership.role == Membership.PlanRole.LEAD


def may_explain(access: PlanAccess | None) -> bool:
    """Only the lead asks why a member reads what they read (also on a completed plan)."""
    return is_lead(access)


def may_see_assessments(access: PlanAccess | None) -> bool:
    """Maturity assessments are for the team only: one saying "forbids" would reveal to the
    family that something is hidden."""
    return is_professional(access)


def may_record_assessment(access: PlanAccess | None) -> bool:
    """A professional of the team records a maturity assessment (with CHANGE on the plan)."""
    return is_professional(access)


def may_read_family_access_log(access: PlanAccess | None) -> bool:
    """The family's access log is read by the family and the lead, not by other professionals."""
    return access is not None and (not is_professional(access) or is_lead(access))


def may_handle_consents(access: PlanAccess | None) -> bool:
    """The family and the lead handle consents (as `consent_families_for` does)."""
    return may_read_family_access_log(access)


def may_give_consent(access: PlanAccess | None) -> bool:
    """A family member gives (or refuses) consent themself; the lead records one instead."""
    return is_family(access)


def may_record_consent(access: PlanAccess | None) -> bool:
    """The lead records a consent (or a refusal) the family gave outside the service (on paper,
    by phone), naming the grantor and how it was obtained; no other professional may
    (`consent_families_for` admits the lead and the family only)."""
    return is_professional(access) and is_lead(access)


#: From this age a child speaks for themself in the plan (own account, own signature): the
#: Child Welfare Act 417/2007 section 21 gives a child of 12 their own say alongside the
#: guardian; product.md gives the child their own login from about 12.
OWN_VOICE_AGE = 12


def may_acknowledge(access: PlanAccess | None) -> bool:
    """Signing a version is the family's (guardians and the child), while they may contribute.

    A guardian acting for a child signs for them only while the child is under OWN_VOICE_AGE:
    a child of 12 or more signs themself (the guardian may still sign as themselves).
    """
    if not (is_family(access) and access.may(Action.CONTRIBUTE)):  # type: ignore[union-attr]
        return False
    if access.acting_for is None:  # type: ignore[union-attr]
        return True
    child = Person.objects.filter(pk=access.acting_for).first()  # type: ignore[union-attr]
    born = child.birth_date if child is not None else None
    return born is not None and _age_on(born, timezone.localdate()) < OWN_VOICE_AGE


def nameable_children(access: PlanAccess, children: set[object]) -> set[object]:
    """Of the family's `children`, those a writer may name in an item's `concerns`: never a
    child whose items the writer may not see (a custody decision or a placement restriction),
    and while acting for a child only that child (what one writes is then within what one
    reads: a comment about a sibling would be a write the acting reader could not see)."""
    allowed = {c for c in children if c not in access.hidden_children}
    if access.acting_for is not None:
        allowed &= {access.acting_for}
    return allowed


def acted_for(access: PlanAccess) -> list[object]:
    """The `concerns` of what a guardian signs while acting for a child: that child (a
    signature in a child's name is about them); nobody in particular otherwise."""
    return [access.acting_for] if access.acting_for is not None else []


def may_restrict_for_child(access: PlanAccess | None) -> bool:
    """A professional of the team records a mature child's wish to hide an item (the item-level
    write right is `require_item(..., CHANGE, ...)`)."""
    return is_professional(access)


def reads_only_about(access: PlanAccess) -> object | None:
    """The one person a reader's view of logs is limited to: a child reads only about
    themself, a guardian acting for a child only about that child (never more than the child
    would read); None when the reader sees rows about the whole family."""
    if access.acting_for is not None:
        return access.acting_for
    return access.person_id if is_child(access) else None


def may_see_assessment_trail(access: PlanAccess) -> bool:
    """Whether log rows about maturity assessments may be shown: never to a guardian (one would
    reveal that something is hidden); a child sees those about themself."""
    return access.kind != Person.Kind.GUARDIAN


def is_own_lead_place(membership: Membership, actor: User) -> bool:
    """Whether ending `membership` would leave the plan without its lead: the lead's own place
    (the lead hands it to another professional first; the service answers 409)."""
    return membership.role == Membership.PlanRole.LEAD and membership.user_id == actor.pk


def consent_subjects_for(user: User, family_id: object) -> QuerySet[Person]:
    """The children a family member may give consent about: a guardian's wards, a child only
    themself; nobody for anyone else."""
    me = person_of(user)
    if me is None:
        return Person.objects.none()
    people = persons_for(user).filter(family_id=family_id, kind=Person.Kind.CHILD)
    if me.kind == Person.Kind.CHILD:
        return people.filter(pk=me.pk)
    return people.filter(pk__in=me.wards.values("pk"))


def sees_restricted(kind: str, person_id: object, restricted_by_id: object | None) -> bool:
    """Whether a reader of `kind` (and person) sees an item with this restriction: every item
    without one; a guardian none with one; a child those they restricted themself; a
    professional all (the audience rule of `items_for` and `may_read_item`)."""
    if restricted_by_id is None:
        return True
    if kind == Person.Kind.GUARDIAN:
        return False
    if kind == Person.Kind.CHILD:
        return restricted_by_id == person_id
    return True


def consent_grantor_mismatch(
    grantor: Person, subjects: list[Person | None]
) -> tuple[str, str] | None:
    """Why `grantor` may not consent for `subjects`: (field, translated reason), or None.

    Subjects must be children; a child consents only for themself; a guardian only for their
    own wards.
    """
    from django.utils.translation import gettext as _

    if not subjects or any(s is None or s.kind != Person.Kind.CHILD for s in subjects):
        return "subjects", _("Name one or more children of this family.")
    if grantor.kind == Person.Kind.CHILD and subjects != [grantor]:
        return "subjects", _("A child consents only for themself.")
    if grantor.kind == Person.Kind.GUARDIAN:
        wards = set(grantor.wards.values_list("pk", flat=True))
        if any(s.pk not in wards for s in subjects):  # type: ignore[union-attr]
            return "subjects", _("The grantor is not guardian of every child named.")
    return None


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
# Recipients of exports and pushes
#

#: Categories a recipient may receive by law, by its sector (no consent needed): the same
#: defaults a professional of that sector reads (docs/permissions.md, docs/fhir.md).
RECIPIENT_SECTOR_CATEGORIES = SECTOR_CATEGORIES
#: Recipient kinds a consent can extend. A national repository is one register (patient
#: records or social welfare client records) and receives its register's categories only.
CONSENTABLE_RECIPIENTS = frozenset({Recipient.Kind.ORGANIZATION, Recipient.Kind.SECTOR})


def recipient_consents(recipient: Recipient, family_id: object) -> list[Consent]:
    """Consents in force for this family addressed to the recipient (organisation or sector)."""
    if recipient.kind not in CONSENTABLE_RECIPIENTS:
        return []
    addressed = Q(recipient_sector=recipient.sector)
    if recipient.organization_id is not None:
        addressed |= Q(recipient_organization_id=recipient.organization_id)
    return list(
        Consent.objects.filter(Consent.effective_q(), addressed, family_id=family_id)
        .prefetch_related("subjects")
        .order_by("created_at", "id")
    )


def recipient_categories(
    recipient: Recipient, consents: tuple[Consent, ...] = ()
) -> frozenset[str]:
    """What a recipient may receive: its sector's categories by law plus what consents give."""
    by_law = RECIPIENT_SECTOR_CATEGORIES.get(recipient.sector, frozenset())
    return by_law | frozenset(c for consent in consents for c in consent.categories)


def may_export_for(access: PlanAccess | None, recipient: Recipient) -> bool:
    """May the holder of `access` export the plan for `recipient`?

    The lead (EXPORT right) may, for any active recipient; another professional member may
    export for their own organisation only (and then only what they themselves may read).
    """
    if access is None or not recipient.active or access.kind != "professional":
        return False
    if access.may(Action.EXPORT):
        return True
    member = access.membership
    return (
        member.role == Membership.PlanRole.MEMBER
        and member.professional is not None
        and recipient.kind == Recipient.Kind.ORGANIZATION
        and recipient.organization_id == member.professional.organization_id
    )


def export_access(
    user: User, plan: Plan, recipient: Recipient, *, shown_to_exporter: bool = False
) -> PlanAccess:
    """The access an export of `plan` for `recipient` reads through; 404 hidden, 403 refused.

    Its `reads` are the recipient's categories (for a member, cut to what the member reads);
    items a minor hid from the guardians go to professional recipients as to professionals.
    With `shown_to_exporter` (a download: the Bundle goes to the exporter, not to the
    recipient's system) they are also cut to what the exporter reads themself, so a download
    never shows the exporter a category they may not see (noninterference, docs/fhir.md).
    """
    access = plan_access(user, plan)
    if access is None:
        raise Http404
    if not may_export_for(access, recipient):
        raise PermissionDenied
    consents = tuple(recipient_consents(recipient, plan.family_id))
    reads = recipient_categories(recipient, consents)
    if shown_to_exporter or not access.may(Action.EXPORT):
        reads &= access.reads
    return PlanAccess(
        plan=plan,
        membership=access.membership,
        kind="recipient",
        actions=frozenset({Action.EXPORT}),
        reads=reads,
        writes=frozenset(),
        sector=recipient.sector,
        consents=consents,
        recipient=recipient,
    )


def _memberships_and_grants(
    user: User, plans: list[Plan]
) -> tuple[dict[object, Membership], dict[object, set[str]]]:
    """For many plans in two queries: the user's membership in force in each (the earliest
    ordered, as `.first()` would pick) and the object-permission codenames granted on each
    (direct grants, as `plans_for` reads them)."""
    from plan_service.plans.models import PlanUserObjectPermission

    memberships: dict[object, Membership] = {}
    for m in (
        Membership.objects.filter(plan__in=plans, user=user)
        .filter(current_membership_q())
        .select_related("professional", "person", "consent")
        .annotate(hidden_children=_blocked_children())
        .order_by("-valid_from", "-id")
    ):
        memberships[m.plan_id] = m  # the last kept is the earliest-ordered
    codenames: dict[object, set[str]] = {}
    for plan_id, codename in PlanUserObjectPermission.objects.filter(
        user=user, content_object__in=plans
    ).values_list("content_object_id", "permission__codename"):
        codenames.setdefault(plan_id, set()).add(codename)
    return memberships, codenames


def export_accesses(user: User, plans: list[Plan], recipient: Recipient) -> list[PlanAccess]:
    """`export_access` for many plans in a fixed number of queries (bulk export).

    A bulk export for a named recipient is a delivery to that recipient (files handed to its
    system, never shown to the exporter), so these are the recipient's full views.

    The lead's case (the one a bulk export is) is decided here from one membership query, one
    permission query and one consent query for all plans, by the same rules; any other case
    falls back to `export_access`, one plan at a time.
    """
    if not _active(user):
        raise Http404
    memberships, codenames = _memberships_and_grants(user, plans)
    consents: dict[object, list[Consent]] = {}
    if recipient.kind in CONSENTABLE_RECIPIENTS:
        addressed = Q(recipient_sector=recipient.sector)
        if recipient.organization_id is not None:
            addressed |= Q(recipient_organization_id=recipient.organization_id)
        for consent in (
            Consent.objects.filter(
                Consent.effective_q(), addressed, family_id__in={p.family_id for p in plans}
            )
            .prefetch_related("subjects")
            .order_by("created_at", "id")
        ):
            consents.setdefault(consent.family_id, []).append(consent)
    out = []
    for plan in plans:
        membership = memberships.get(plan.pk)
        granted = frozenset(a for a in Action if _CODENAME[a] in codenames.get(plan.pk, ()))
        if membership is None or Action.VIEW not in granted:
            raise Http404
        lead = membership.role == Membership.PlanRole.LEAD and membership.professional is not None
        if not (lead and Action.EXPORT in granted and recipient.active):
            out.append(export_access(user, plan, recipient))
            continue
        given = tuple(consents.get(plan.family_id, ()))
        out.append(
            PlanAccess(
                plan=plan,
                membership=membership,
                kind="recipient",
                actions=frozenset({Action.EXPORT}),
                reads=recipient_categories(recipient, given),
                writes=frozenset(),
                sector=recipient.sector,
                consents=given,
                recipient=recipient,
            )
        )
    return out


def export_own_accesses(user: User, plans: list[Plan]) -> list[PlanAccess]:
    """`require_plan(user, EXPORT, plan)` for many plans (a bulk export of the exporter's own
    view) in a fixed number of queries: `plan_accesses_for`, with a plan it leaves out decided
    the long way (an emergency opening, if any; else 404). 403 without EXPORT."""
    if not _active(user):
        raise Http404
    decided = plan_accesses_for(user, plans)
    out = []
    for plan in plans:
        access = decided.get(plan.pk)
        if access is None:
            out.append(require_plan(user, Action.EXPORT, plan))
            continue
        if not access.may(Action.EXPORT):
            raise PermissionDenied
        out.append(access)
    return out


def plan_accesses_for(user: User, plans: list[Plan]) -> dict[object, PlanAccess]:
    """`plan_access(user, plan)` for many plans in a fixed number of queries (a start page).

    The memberships, the granted object permissions and the consents covering the user are
    each read once for all plans and decided by `_decide`, as `plan_access` decides one. Plans
    the user may not view (no membership in force, no VIEW granted, a decision of None) are
    left out; emergency openings are not memberships and are not listed.
    """
    if not _active(user) or not plans:
        return {}
    memberships, codenames = _memberships_and_grants(user, plans)
    professional = professional_of(user)
    covering: dict[object, list[Consent]] = {}
    if professional is not None:
        for consent in Consent.objects.filter(
            Consent.effective_q(),
            _recipient_q(professional),
            family_id__in={p.family_id for p in plans},
        ).order_by("created_at", "id"):
            covering.setdefault(consent.family_id, []).append(consent)
    out: dict[object, PlanAccess] = {}
    for plan in plans:
        membership = memberships.get(plan.pk)
        granted = frozenset(a for a in Action if _CODENAME[a] in codenames.get(plan.pk, ()))
        if membership is None or Action.VIEW not in granted:
            continue
        consents: tuple[Consent, ...] = ()
        if membership.role != Membership.PlanRole.FAMILY and membership.professional is not None:
            if professional is not None and membership.professional_id == professional.pk:
                consents = tuple(covering.get(plan.family_id, ()))
            else:  # not expected: decide the long way
                consents = tuple(_consents_covering(plan, membership.professional))
        access = _decide(plan, membership, granted, consents)
        if access is not None:
            out[plan.pk] = access
    return out


def items_for_plans(accesses: list[PlanAccess], qs: QuerySet[M]) -> QuerySet[M]:
    """`items_for` over the plans of many accesses that may read differently (a professional's
    plans: consents differ per family), as ONE queryset: the accesses are grouped by what
    they read (`items_for_many` per group) and the groups' conditions joined with OR, so one
    statement answers for all plans however many there are."""
    groups: dict[tuple[object, ...], list[PlanAccess]] = {}
    for a in accesses:
        key = (a.kind, a.reads, a.person_id, a.hidden_children, a.acting_for)
        groups.setdefault(key, []).append(a)
    combined = qs.none()
    for group in groups.values():
        combined = combined | items_for_many(group, qs)
    return combined


def disclosure_basis(access: PlanAccess, person_id: object) -> str:
    """The basis on which one person's data goes to the recipient, for the disclosure log.

    `statute:<sector>` for what the recipient receives by law, plus `consent:<id>` for each
    consent in force that gives it more and names this person among its subjects.
    """
    recipient = access.recipient
    if recipient is None:
        return access.legal_basis
    parts = [f"statute:{recipient.sector}"]
    parts += [
        f"consent:{c.pk}"
        for c in access.consents
        if any(s.pk == person_id for s in c.subjects.all())
    ]
    return ";".join(parts)


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
    grounds: dict[str, Ground] = {}
    if access is not None and member.role != Membership.PlanRole.FAMILY:
        # The same rule `_decide` applied to this access: the grounds are why it reads.
        grounds = reading_grounds(
            role=member.role, basis=member.basis, sector=sector, consents=access.consents
        )
    rows = []
    for category in Category.values:
        if access is None:
            reason = Ground.MEMBERSHIP_NOT_IN_FORCE
        elif member.role == Membership.PlanRole.FAMILY:
            reason = Ground.FAMILY_MEMBER
        else:
            reason = grounds[category]
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


#
# The questions view sets ask (`PolicyViewSet.policy_actions`), by name
#

#: Any signed-in user; the rows are then scoped by a `*_for` answer (404 outside it).
SIGNED_IN = Question("signed_in", user=is_signed_in)
#: Nobody needs to be signed in (signing in itself).
ANYONE = Question("anyone", user=lambda user: True)
AUDITOR = Question("auditor", user=is_auditor)
BREAK_GLASS = Question("break_glass", user=may_break_glass)
CREATE_PLAN = Question("create_plan", user=may_create_plan)
LIST_PROFESSIONALS = Question("list_professionals", user=may_list_professionals)
ADMIN = Question("admin", user=is_admin)
PLAN_VIEW = plan_question(Action.VIEW)
PLAN_EXPORT = plan_question(Action.EXPORT)
#: Exports and pushes: the recipient decides what leaves and who may send it (a member may
#: export for their own organisation without the EXPORT right), answered by `export_access`.
EXPORT_FOR_RECIPIENT = plan_question(Action.VIEW, then="export_access")
EXPLAIN = access_question("explain", may_explain)
ASSESSMENTS = access_question("assessments", may_see_assessments)
FAMILY_ACCESS_LOG = access_question("family_access_log", may_read_family_access_log)
RECORD_ASSESSMENT = Question("record_assessment", plan=Action.CHANGE, access=may_record_assessment)
#: A machine client reading what its recipient may receive (the only question that admits one).
CLIENT_READ = Question("client_read", user=may_read_as_client)


def item_questions(model: type[PlanItem]) -> dict[str, Question]:
    """The questions an item view set asks, per action, for items of `model`.

    Adding asks the plan action the kind needs. Changing, removing, restoring and restricting
    name an item: the plan must be visible first, then the service asks `require_item` on the
    item it found (404 when the item is hidden, 403 when the action is not allowed).
    """
    write = item_write_action(model)
    on_item = plan_question(Action.VIEW, item=write)
    return {
        "list": PLAN_VIEW,
        "retrieve": PLAN_VIEW,
        "create": plan_question(write),
        "update": on_item,
        "partial_update": on_item,
        "destroy": on_item,
        "restore": plan_question(Action.VIEW, item=Action.MANAGE),
        "restrict": plan_question(Action.VIEW, item=Action.CHANGE, then="may_child_restrict"),
    }
