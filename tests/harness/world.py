"""The world the permission matrix runs in: one family's plan seen by every kind of user.

* plan_a: the family's open plan. Lead: a child-protection social worker. Members: a public
  health nurse and a school curator (statutory), a social counsellor whose membership ended and
  a teacher whose membership starts tomorrow. The guardian and the 13-year-old child have
  accounts and are family members of the plan.
* plan_done: the same family's earlier, completed plan with the same team.
* plan_b: another family's plan, led by someone outside the matrix.
* Each plan holds one item of every kind in category `general` and in `social` (child
  protection, which the nurse and the curator must never see); plan_a also in `health`,
  `education` and `family`, each written by a professional who may write it.
* plan_a also has items the 13-year-old hid from the guardian (a need and a goal, THL code 3)
  and a visible goal whose need is such a hidden need.
* On plan_a, three psychiatric nurses of a clinic are members on a consent basis: `consent`
  (the guardian's consent to social and health data for the clinic, in force), `withdrawn`
  (seated on a consent since withdrawn) and `expired` (on a consent since expired).
* The family has three more children without accounts (issue 18, acting for a child):
  `young` (9), `barred` (a custody decision excludes the guardian) and `marked` (a
  non-disclosure marking). plan_a holds a general need about each child (and one about both
  `child` and `barred`), each with a comment of the lead's. The guardian may act for `child`
  (13) and `young`; acting for `barred` or `marked` is blocked (the guardian then acts as
  themselves). The acting callers are the roles in ACTING_ROLES.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from plan_service import policy
from plan_service.clients.services import client_create
from plan_service.consent.services import consent_create, consent_withdraw
from plan_service.participants import assessments
from plan_service.participants.models import Person, Recipient
from plan_service.plans import services
from plan_service.plans.models import Action, Comment, Dissent, Goal, Need, Plan, Review
from plan_service.plans.visibility import reader_view
from tests import factories

ITEM_KINDS = ("needs", "goals", "actions", "reviews", "comments", "dissents")
#: Callers who are the guardian acting for one of the family's children: role -> child's name
#: in `World.children`.
ACTING_ROLES = {
    "for-child": "child",
    "for-young": "young",
    "for-barred": "barred",
    "for-marked": "marked",
}
#: What the items about one or more children are about (names in `World.children`).
ABOUTS = {
    "child": ("child",),
    "young": ("young",),
    "barred": ("barred",),
    "marked": ("marked",),
    "child+barred": ("child", "barred"),
}


@dataclass
class Side:
    """One plan as the matrix addresses it: ids to put in URLs and bodies."""

    plan: Any
    items: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, category) -> item
    member_id: Any = None  # a membership the lead may end
    ack_id: Any = None
    family_id: Any = None
    consent_id: Any = None
    hidden: dict[str, Any] = field(default_factory=dict)  # kind -> item hidden from guardians
    extra: list[Any] = field(default_factory=list)  # other items (a goal over a hidden need)
    about: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, ABOUTS key) -> item

    def all_items(self, kind: str) -> list[Any]:
        """Every item of `kind` on this plan in the world."""
        return [
            *(item for (k, _), item in self.items.items() if k == kind),
            *(item for k, item in self.hidden.items() if k == kind),
            *(item for item in self.extra if _kind_of(item) == kind),
            *(item for (k, _), item in self.about.items() if k == kind),
        ]


@dataclass
class World:
    users: dict[str, Any]
    pros: dict[str, Any]
    sides: dict[str, Side]
    child_person: Any
    guardian_person: Any
    new_family_id: Any
    joiner: Any  # a professional the lead may add
    organization_id: Any
    children: dict[str, Any] = field(default_factory=dict)  # name -> child Person
    #: The machine client of the curator's school (client id, secret in clear).
    machine_client: tuple[str, str] = ("", "")

    def user(self, role: str) -> Any:
        if role in ACTING_ROLES:
            return self.users.get("guardian")
        return self.users.get(role)

    def acting_for(self, role: str) -> Any:
        """The id of the child an acting caller chose (None for everyone else)."""
        name = ACTING_ROLES.get(role)
        return self.children[name].pk if name is not None else None

    def names_of(self, concerns: Any) -> set[str]:
        """The names (keys of `children`) of the children an item's `concerns` lists."""
        by_id = {str(p.pk): name for name, p in self.children.items()}
        return {by_id[str(c)] for c in concerns or ()}


def _kind_of(item: Any) -> str:
    return {"need": "needs", "goal": "goals", "action": "actions", "review": "reviews"}.get(
        item._meta.model_name, f"{item._meta.model_name}s"
    )


def _items(
    side: Side,
    lead: Any,
    guardian: Any,
    categories: tuple[str, ...],
    writers: dict[str, Any] | None = None,
) -> None:
    plan_id = side.plan.pk
    for category in categories:
        author = (writers or {}).get(category, lead).user
        need = services.item_create(
            actor=author,
            plan_id=plan_id,
            model=Need,
            data={"category": category, "title": f"need {category}"},
        )
        goal = services.item_create(
            actor=author,
            plan_id=plan_id,
            model=Goal,
            data={
                "category": category,
                "title": f"goal {category}",
                "desired_outcome": "x",
                "need": need.pk,
            },
        )
        action = services.item_create(
            actor=author,
            plan_id=plan_id,
            model=Action,
            data={
                "category": category,
                "description": f"action {category}",
                "goal": goal.pk,
                "responsible_kind": "organization",
                "responsible_organization": lead.organization_id,
            },
        )
        review = services.item_create(
            actor=author,
            plan_id=plan_id,
            model=Review,
            data={
                "category": category,
                "held_on": dt.date(2026, 1, 1),
                "progress": [{"goal": str(goal.pk), "note": "ok"}],
            },
        )
        # Words of the family about general and family matters; the writer's about the rest.
        speaker = guardian if category in ("general", "family") else author
        target = {"target_type": "goal", "target_id": goal.pk}
        comment = services.item_create(
            actor=speaker, plan_id=plan_id, model=Comment, data={**target, "text": "c"}
        )
        dissent = services.item_create(
            actor=speaker, plan_id=plan_id, model=Dissent, data={**target, "text": "d"}
        )
        for kind, item in (
            ("needs", need),
            ("goals", goal),
            ("actions", action),
            ("reviews", review),
            ("comments", comment),
            ("dissents", dissent),
        ):
            side.items[(kind, category)] = item


def _hidden_items(side: Side, lead: Any, child_person: Any) -> None:
    """The child, assessed capable (THL code 3), hides a need and a goal from the guardians."""
    plan_id = side.plan.pk
    assessments.assessment_record(
        actor=lead.user, plan_id=plan_id, child_id=child_person.pk, code=3
    )
    need = services.item_create(
        actor=lead.user,
        plan_id=plan_id,
        model=Need,
        data={"category": "general", "title": "need general hidden"},
    )
    goal = services.item_create(
        actor=lead.user,
        plan_id=plan_id,
        model=Goal,
        data={
            "category": "general",
            "title": "goal general hidden",
            "desired_outcome": "x",
            "need": need.pk,
        },
    )
    over = services.item_create(
        actor=lead.user,
        plan_id=plan_id,
        model=Goal,
        data={
            "category": "general",
            "title": "goal general over a hidden need",
            "desired_outcome": "x",
            "need": need.pk,
        },
    )
    for model, item in ((Need, need), (Goal, goal)):
        services.item_restrict(
            actor=lead.user,
            plan_id=plan_id,
            model=model,
            item_id=item.pk,
            child_id=child_person.pk,
            expected_version=None,
        )
        item.refresh_from_db()
    side.hidden = {"needs": need, "goals": goal}
    side.extra = [over]


def _more_children(family: Any, guardian_person: Any) -> dict[str, Any]:
    """The children the guardian may act for (`young`) and may not (`barred`, `marked`)."""
    made = {}
    for name, age in (("young", 9), ("barred", 10), ("marked", 8)):
        made[name] = Person.objects.create(
            family=family,
            kind="child",
            given_name=name.title(),
            family_name=family.name,
            identity_code=factories.identity_code(age),
            non_disclosure=name == "marked",
        )
        made[name].guardianships.create(
            guardian=guardian_person, excluded_by_custody_decision=name == "barred"
        )
    return made


def _items_about(side: Side, lead: Any, children: dict[str, Any]) -> None:
    """A general need about each child (and one about two), each with a comment of the lead's."""
    for key, names in ABOUTS.items():
        need = services.item_create(
            actor=lead.user,
            plan_id=side.plan.pk,
            model=Need,
            data={
                "category": "general",
                "title": f"need about {key}",
                "concerns": [children[n].pk for n in names],
            },
        )
        comment = services.item_create(
            actor=lead.user,
            plan_id=side.plan.pk,
            model=Comment,
            data={"target_type": "need", "target_id": need.pk, "text": f"about {key}"},
        )
        side.about[("needs", key)] = need
        side.about[("comments", key)] = comment


def _consent_members(
    lead: Any, guardian: Any, family: Any, child_person: Any, plan: Any
) -> dict[str, Any]:
    """Three clinic nurses on a consent basis: in force, withdrawn and expired."""
    clinic = factories.organization("health")
    seated = {}
    for name in ("consent", "withdrawn", "expired"):
        pro = factories.professional("psychiatric_nurse", clinic)
        given = consent_create(
            actor=guardian,
            family=family,
            grantor_id=None,
            subject_ids=[child_person.pk],
            categories=["social", "health"],
            purpose=f"matrix {name}",
            recipient_organization=clinic,
            # Long enough for the membership to be added within it on a loaded machine.
            valid_until=timezone.now() + dt.timedelta(seconds=3) if name == "expired" else None,
        )
        services.membership_add(
            actor=lead.user,
            plan_id=plan.pk,
            professional=pro,
            role="member",
            basis="consent",
            consent_id=given.pk,
        )
        if name == "withdrawn":
            consent_withdraw(actor=guardian, consent=given, reason="changed my mind")
        seated[name] = pro
    # The expired consent runs out on its own, with nobody acting.
    time.sleep(max(0.0, (given.valid_until - timezone.now()).total_seconds()) + 0.05)
    return seated


def build_world() -> World:
    """Create the world through the services (so grants, history and audit are real)."""
    org = factories.organization("social")
    edu = factories.organization("education")
    lead = factories.professional("child_protection_social_worker", org)
    health = factories.professional("public_health_nurse", org)
    curator = factories.professional("school_curator", edu)
    ended = factories.professional("social_counsellor", org)
    future = factories.professional("teacher", edu)
    stranger = factories.professional("teacher", edu)
    joiner = factories.professional("psychiatric_nurse", org)
    auditor = factories.professional("auditor", org)
    admin = factories.professional("administrator", org)
    lead_b = factories.professional("child_protection_social_worker", org)

    family_a = factories.family(children=1, guardians=1, child_age=13)
    family_a.created_by = lead.user
    family_a.save()
    child_person = Person.objects.get(family=family_a, kind="child")
    guardian_person = Person.objects.get(family=family_a, kind="guardian")
    guardian = factories.link(guardian_person)
    child = factories.link(child_person)
    children = {"child": child_person, **_more_children(family_a, guardian_person)}

    # The earlier, completed plan first (one open plan per family).
    plan_done = factories.plan(lead, family_a, status="active")
    for who in (health, curator):
        factories.add_member(plan_done, lead, who)
    done = Side(plan=plan_done, family_id=family_a.pk)
    _items(done, lead, guardian, ("general", "social"))
    plan_done = services.plan_update(
        actor=lead.user, plan_id=plan_done.pk, expected_version=None, data={"status": "completed"}
    )
    done.plan = plan_done

    plan_a = factories.plan(lead, family_a, status="active")
    for who in (health, curator):
        factories.add_member(plan_a, lead, who)
    ended_m = factories.add_member(plan_a, lead, ended)
    services.membership_end(actor=lead.user, plan_id=plan_a.pk, membership_id=ended_m.pk)
    factories.add_member(plan_a, lead, future, valid_from=timezone.now() + dt.timedelta(days=1))
    side_a = Side(plan=plan_a, family_id=family_a.pk)
    _items(
        side_a,
        lead,
        guardian,
        ("general", "social", "health", "education", "family"),
        writers={"health": health, "education": curator},
    )
    _hidden_items(side_a, lead, child_person)
    _items_about(side_a, lead, children)
    side_a.member_id = plan_a.memberships.get(user=health.user, ended_at__isnull=True).pk
    consent = consent_create(
        actor=guardian,
        family=family_a,
        grantor_id=None,
        subject_ids=[child_person.pk],
        categories=["general", "health"],
        purpose="matrix",
        recipient_sector="education",
    )
    side_a.consent_id = consent.pk
    seated = _consent_members(lead, guardian, family_a, child_person, plan_a)
    ack = services.acknowledgement_create(
        actor=guardian,
        plan_id=plan_a.pk,
        # The version as the guardian sees it (reader-relative: plans/visibility.py).
        version=reader_view(policy.plan_access(guardian, Plan.objects.get(pk=plan_a.pk))).version,
        decision="agree",
    )
    side_a.ack_id = ack.pk
    plan_a.refresh_from_db()
    side_a.plan = plan_a

    family_b = factories.family(children=1, guardians=1)
    plan_b = factories.plan(lead_b, family_b, status="active")
    guardian_b = factories.link(Person.objects.get(family=family_b, kind="guardian"))
    side_b = Side(plan=plan_b, family_id=family_b.pk)
    _items(side_b, lead_b, guardian_b, ("general", "social"))
    consent_b = consent_create(
        actor=guardian_b,
        family=family_b,
        grantor_id=None,
        subject_ids=[Person.objects.get(family=family_b, kind="child").pk],
        categories=["general"],
        purpose="matrix",
        recipient_sector="education",
    )
    side_b.consent_id = consent_b.pk
    side_b.ack_id = services.acknowledgement_create(
        actor=guardian_b,
        plan_id=plan_b.pk,
        version=Plan.objects.get(pk=plan_b.pk).version,
        decision="agree",
    ).pk
    side_b.member_id = plan_b.memberships.get(user=guardian_b).pk
    plan_b.refresh_from_db()
    side_b.plan = plan_b

    missing = Side(
        plan=_Missing(),
        family_id=uuid.uuid4(),
        member_id=uuid.uuid4(),
        ack_id=uuid.uuid4(),
        consent_id=uuid.uuid4(),
    )
    for key in side_a.items:
        missing.items[key] = _Missing()
    done.member_id = plan_done.memberships.get(user=health.user).pk
    done.ack_id = None

    new_family = factories.family(children=1, guardians=1)
    new_family.created_by = lead.user
    new_family.save()

    pros = {
        "lead": lead,
        "health": health,
        "curator": curator,
        "ended": ended,
        "future": future,
        "stranger": stranger,
        "auditor": auditor,
        "admin": admin,
        **seated,
    }
    users = {name: p.user for name, p in pros.items()}
    users.update(guardian=guardian, child=child)
    school = Recipient.objects.create(
        code="matrix-school",
        name="School",
        kind="organization",
        sector="education",
        organization=edu,
    )
    portal = client_create(client_id="matrix-portal", name="School portal", recipient=school)
    return World(
        machine_client=(portal.client.client_id, portal.secret),
        users=users,
        pros=pros,
        sides={"own": side_a, "completed": done, "other": side_b, "missing": missing},
        child_person=child_person,
        guardian_person=guardian_person,
        new_family_id=new_family.pk,
        joiner=joiner,
        organization_id=org.pk,
        children=children,
    )


class _Missing:
    """Stands in for an object that does not exist: a fresh id, version 1."""

    def __init__(self) -> None:
        self.pk = uuid.uuid4()
        self.version = 1
        self.category = "general"
