"""A reader's worklist: their plans with what needs their attention, read in a fixed number of
queries whatever the number of plans (the professional's start page, web/start.py).

Every figure is about what THIS reader may see, decided by `plan_service.policy` (the
accesses of `policy.plan_accesses_for`, the item rule of `policy.items_for_plans`), so two
worlds that differ only in what the reader may not see give the same rows:

* **next review**: `next_review_on` of the latest review meeting the reader may see (by the
  date it was held); **review due** when that date is at most `REVIEW_DUE_DAYS` ahead or
  already past, in a plan that is not completed.
* **unsigned**: an open plan in which a guardian of the family's team has no signature the
  reader can see, or has not signed since the newest change the reader can see to its
  content (needs, goals, actions, reviews: the live items' `plan_version`). Comments,
  dissents and signatures are talk about the plan, not content, as on the plan page's
  signing. Items removed since a signature do not count (their rows are gone).
* **new comments**: comments and dissents the reader may see, written or edited by someone
  else after the reader last read the plan (their latest `read` of the plan in the access
  log, page or API); all of them when the reader has never read it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person
from plan_service.plans import kinds
from plan_service.plans.models import (
    Acknowledgement,
    Comment,
    Dissent,
    Membership,
    Plan,
    Review,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

#: A review counts as due this many days before its date (and stays due once past).
REVIEW_DUE_DAYS = 14

#: Before any read: every comment is new.
_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class WorkRow:
    """One plan of the reader's worklist, as the reader may see it."""

    plan: Plan
    access: policy.PlanAccess
    children: list[str] = field(default_factory=list)
    next_review: dt.date | None = None
    review_due: bool = False
    review_overdue: bool = False
    unsigned: bool = False
    new_comments: int = 0

    @property
    def role(self) -> str:
        """The reader's role in the plan: lead, member or family."""
        return self.access.membership.role

    @property
    def role_label(self) -> str:
        return str(dict(Membership.PlanRole.choices).get(self.role, self.role))


def _content_changed(accesses: list[policy.PlanAccess]) -> Any:
    """The newest stored plan version at which a content item the reader sees last changed."""
    parts = []
    for kind in kinds.all_kinds():
        if kind.authored or kind.signature:
            continue
        newest = (
            policy.items_for_plans(accesses, kind.model.objects.all())
            .filter(plan_id=OuterRef("pk"))
            .order_by()
            .values("plan_id")
            .annotate(v=Max("plan_version"))
            .values("v")
        )
        parts.append(Coalesce(Subquery(newest, output_field=IntegerField()), Value(0)))
    return Greatest(*parts) if len(parts) > 1 else parts[0]


def _new_talk(accesses: list[policy.PlanAccess], user: AbstractBaseUser) -> Any:
    """Comments and dissents the reader sees, by others, changed after `last_read`."""
    counts = []
    for model in (Comment, Dissent):
        n = (
            policy.items_for_plans(accesses, model.objects.all())
            .filter(plan_id=OuterRef("pk"), updated_at__gt=OuterRef("last_read"))
            .exclude(created_by_id=user.pk)
            .order_by()
            .values("plan_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        counts.append(Coalesce(Subquery(n, output_field=IntegerField()), Value(0)))
    return counts[0] + counts[1]


def _unsigned(accesses: list[policy.PlanAccess]) -> Any:
    """A guardian in the plan's team without a visible signature at or after the newest
    visible content change (`content_changed`, annotated on the plan)."""
    signed = policy.items_for_plans(accesses, Acknowledgement.objects.all()).filter(
        plan_id=OuterRef(OuterRef("pk")),
        person_id=OuterRef("person_id"),
        acknowledged_version__gte=OuterRef(OuterRef("content_changed")),
    )
    guardians = (
        Membership.objects.filter(
            plan_id=OuterRef("pk"),
            role=Membership.PlanRole.FAMILY,
            person__kind=Person.Kind.GUARDIAN,
        )
        .filter(policy.current_membership_q())
        .filter(~Exists(signed))
    )
    return Exists(guardians)


def latest_read(user_id: object, plan_id: object) -> Any:
    """When the user last read the plan (page or API), as a one-row queryset of `recorded_at`;
    served by the access log's index `access_actor_plan_read`."""
    return (
        AccessEvent.objects.filter(
            actor_user_id=user_id,
            plan_id=plan_id,
            action=AccessEvent.Action.READ,
            object_type="plan",
        )
        .order_by("-recorded_at")
        .values("recorded_at")[:1]
    )


def worklist(*, user: AbstractBaseUser, today: dt.date | None = None) -> list[WorkRow]:
    """All the reader's plans (`plans.selectors.plan_list`, newest first) with their worklist
    figures, in a fixed number of statements: the plans, three for the accesses, one for the
    figures, one for the children's names.

    Plans the reader may not view are not in it.
    """
    from plan_service.plans.selectors import plan_list

    today = today or timezone.localdate()
    plans = list(plan_list(user=user))
    accesses = policy.plan_accesses_for(user, plans)
    plans = [p for p in plans if p.pk in accesses]
    if not plans:
        return []
    visible = list(accesses.values())
    last_read = latest_read(user.pk, OuterRef("pk"))
    latest_review = (
        policy.items_for_plans(visible, Review.objects.all())
        .filter(plan_id=OuterRef("pk"))
        .order_by("-held_on", "-created_at", "-id")
        .values("next_review_on")[:1]
    )
    figures = (
        Plan.objects.filter(pk__in=[p.pk for p in plans])
        .order_by()
        .annotate(
            last_read=Coalesce(Subquery(last_read), Value(_NEVER)),
            content_changed=_content_changed(visible),
        )
        .annotate(
            next_review=Subquery(latest_review),
            new_comments=_new_talk(visible, user),
            unsigned=_unsigned(visible),
        )
        .values("pk", "next_review", "new_comments", "unsigned")
    )
    with connection.cursor() as cursor:
        # The figures are one statement of correlated subqueries over all the reader's plans;
        # its estimated cost crosses PostgreSQL's JIT threshold, and compiling it (about 90 ms
        # at 200 plans) costs more than it saves on a statement that runs in milliseconds per
        # plan. Off for this transaction only (the page's; SET LOCAL ends with it).
        cursor.execute("SET LOCAL jit = off")
    by_plan = {row["pk"]: row for row in figures}
    names: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    for pk, family_id, given, family_name in (
        Person.objects.filter(family_id__in={p.family_id for p in plans}, kind=Person.Kind.CHILD)
        .order_by("given_name", "family_name", "id")
        .values_list("pk", "family_id", "given_name", "family_name")
    ):
        names.setdefault(family_id, []).append((pk, f"{given} {family_name}"))
    due_by = today + dt.timedelta(days=REVIEW_DUE_DAYS)
    rows = []
    for plan in plans:
        access = accesses[plan.pk]
        row = by_plan[plan.pk]
        open_plan = plan.status != Plan.Status.COMPLETED
        next_review = row["next_review"]
        rows.append(
            WorkRow(
                plan=plan,
                access=access,
                # A guardian kept from a child's part (a custody decision) does not get the
                # child's name here either.
                children=[
                    n for pk, n in names.get(plan.family_id, []) if pk not in access.hidden_children
                ],
                next_review=next_review,
                review_due=open_plan and next_review is not None and next_review <= due_by,
                review_overdue=open_plan and next_review is not None and next_review < today,
                unsigned=open_plan and bool(row["unsigned"]),
                new_comments=row["new_comments"] or 0,
            )
        )
    return rows
