"""Reads of plans and their items. Each goes through plan_service.policy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet, Subquery, Window
from django.http import Http404
from django.utils import timezone

from plan_service import policy, prepared
from plan_service.audit.parties import Target
from plan_service.participants.models import Family, Person
from plan_service.participants.selectors import family_people
from plan_service.plans.models import Acknowledgement, Membership, Plan, PlanItem
from plan_service.plans.visibility import ReaderView, StoredView, visible_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

I = TypeVar("I", bound=PlanItem)  # noqa: E741


def plan_list(*, user: AbstractBaseUser, now: dt.datetime | None = None) -> QuerySet[Plan]:
    """The plans the user may view, with the family loaded (one query per page).

    Newest plan first: not by `updated_at`, which moves with changes the user may not see
    (the plan's detail gives its version and `updated_at` as the user sees them).
    """
    return (
        policy.plans_for(user, policy.Action.VIEW, now=now)
        .select_related("family")
        .order_by("-created_at", "id")
    )


@dataclasses.dataclass(frozen=True)
class PlanListFirstPage:
    """`plan_list(user=user)` for a paginator (`api.pagination.CountedPaginator`): its first
    page of `size` plans with the list's length (`counted_page`) is one statement compiled
    once (`prepared`), where the ORM built and compiled the permission-filtered statement on
    every request (~3 ms of a professional's start page). Any other page or size, and the
    length of an empty list past its first page, come from `plan_list`: each offset and size
    would be a statement of its own, and a client choosing them could fill the compiled and
    the server's prepared statements (psycopg keeps 100 per connection) with them."""

    user: Any
    #: The one page size compiled (the list's default).
    size: int

    ordered = True

    def counted_page(self, bottom: int, size: int, total: str) -> list[Plan]:
        if bottom != 0 or size != self.size:
            window = plan_list(user=self.user).annotate(**{total: _length()})
            return list(window[bottom : bottom + size])
        if not policy.is_signed_in(self.user):
            return []  # as plans_for answers anyone else: nothing

        def build(user: int, now: dt.datetime) -> QuerySet[Any]:
            placeholder = get_user_model()(pk=user, is_active=True)
            return (
                plan_list(user=placeholder, now=now)
                .annotate(**{total: _length()})
                .values(*_PAGE_COLUMNS, total)[:size]
            )

        rows = prepared.rows(
            ("plan_list_first_page", size, total),  # one size: the list's default
            build,
            {"user": prepared.Slot.integer(1), "now": prepared.Slot.moment(1)},
            {"user": self.user.pk, "now": timezone.now()},
        )
        plans = []
        for row in rows:
            plan = prepared.instance(Plan, row)
            plan.family = prepared.instance(Family, row, "family__")
            setattr(plan, total, row[total])
            plans.append(plan)
        return plans

    def count(self) -> int:
        return plan_list(user=self.user).count()


def _length() -> Window:
    """The list's length on each row of a page (`COUNT(*) OVER ()`)."""
    return Window(Count("*"))


_PAGE_COLUMNS = [*prepared.columns(Plan), *prepared.columns(Family, "family__")]


def plan_get(*, user: AbstractBaseUser, plan_id: object) -> Plan:
    """The plan if the user may view it; Http404 otherwise (hidden and missing look the same)."""
    try:
        pk = uuid.UUID(str(plan_id))
    except ValueError as exc:
        raise Http404 from exc
    plan = plan_list(user=user).filter(pk=pk).first()
    if plan is None:
        plan = policy.emergency_plan(user, pk)  # reached through an emergency opening only
    if plan is None:
        raise Http404
    return plan


def plan_access_get(
    *, user: AbstractBaseUser, plan_id: object, lock: bool = False
) -> policy.PlanAccess:
    """The user's access to a visible plan; Http404 when it is hidden or missing.

    One statement (`policy.plan_access_for`); with `lock` the plan row is locked first, for a
    write that then passes this access to its service instead of deciding again.
    """
    access = policy.plan_access_for(user, plan_id, lock=lock)
    if access is None:
        raise Http404
    return access


def item_list(*, access: policy.PlanAccess, model: type[I]) -> QuerySet[I]:
    """The plan's items of one kind that the access may read, oldest first."""
    return policy.items_for(access, model.objects.all()).order_by("created_at", "id")


def item_get(
    *, access: policy.PlanAccess, model: type[I], item_id: object, lock: bool = False
) -> I:
    """One readable item of the plan; Http404 when it is hidden, missing or malformed.

    With `lock` the row is locked for the rest of the transaction (for a write), with its
    author loaded for the answer: every write of an item runs this, so its statement is
    compiled once per shape (`_readable_rows`).
    """
    try:
        pk = uuid.UUID(str(item_id))
    except ValueError as exc:
        raise Http404 from exc
    rows = _item_locked(access, model, pk) if lock else None
    if rows is None:
        items = item_list(access=access, model=model).filter(pk=pk)
        if lock:
            items = items.select_related("created_by").select_for_update(of=("self",))
        item = items.first()
    elif rows:
        item = prepared.instance(model, rows[0])
        item.created_by = prepared.instance(get_user_model(), rows[0], "created_by__")
    else:
        item = None
    if item is None:
        raise Http404
    return item


def _item_locked(
    access: policy.PlanAccess, model: type[PlanItem], pk: uuid.UUID
) -> list[dict[str, Any]] | None:
    """The readable item `pk` locked, with its author's columns, by `_readable_rows`."""
    columns = (*prepared.columns(model), *prepared.columns(get_user_model(), "created_by__"))
    return _readable_rows(
        access,
        model,
        "item_locked",
        lambda items, item: items.filter(pk=item).select_for_update(of=("self",)).values(*columns),
        {"item": pk},
        {"item": prepared.Slot.uuid(3)},
    )


def readable_ids(*, access: policy.PlanAccess, model: type[PlanItem]) -> set[uuid.UUID]:
    """The ids of the plan's items of one kind that the access may read (an item's answer
    shows the ids it names only when they are readable): compiled once per shape."""
    rows = _readable_rows(access, model, "readable_ids", lambda items: items.values("pk"))
    if rows is None:
        return set(item_list(access=access, model=model).values_list("pk", flat=True))
    return {row["pk"] for row in rows}


def _readable_rows(
    access: policy.PlanAccess,
    model: type[PlanItem],
    name: str,
    tail: Callable[..., QuerySet[Any]],
    values: dict[str, object] | None = None,
    placeholders: dict[str, object] | None = None,
) -> list[dict[str, Any]] | None:
    """The rows of `tail(the items of the kind the access may read, ...)` (a `.values()`
    queryset; `values` fill its further slots), by a statement compiled once per kind of item
    and `policy.items_shape` (`prepared`): building it with the ORM took longer than running
    it. The rule is `policy.items_for`'s, applied to an access standing for every access of the
    shape, with the plan and a child's person as values. None when the access has no shape: the
    caller then asks the ORM."""
    shape = policy.items_shape(access)
    if shape is None:
        return None
    values = {"plan": access.plan.pk, **(values or {})}
    placeholders = {"plan": prepared.Slot.uuid(1), **(placeholders or {})}
    if shape.person:
        values["person"], placeholders["person"] = access.person_id, prepared.Slot.uuid(2)

    def build(plan: object, person: object = None, **further: object) -> QuerySet[Any]:
        standing = dataclasses.replace(access, plan=Plan(pk=plan), person_id=person)
        return tail(policy.items_for(standing, model.objects.order_by()), **further)

    return prepared.rows((name, model._meta.label, *shape), build, placeholders, values)


def membership_list(*, access: policy.PlanAccess) -> QuerySet[Membership]:
    """The plan's team, past and present, with users and roles loaded."""
    return (
        Membership.objects.filter(plan=access.plan)
        .select_related("user", "professional__organization", "person")
        .order_by("valid_from", "id")
    )


def signer_kinds(*, view: ReaderView | StoredView) -> dict[object, str]:
    """Person id -> kind (guardian or child) of the family, to judge signatures (one query)."""
    return dict(
        Person.objects.filter(family_id=view.access.plan.family_id).values_list("pk", "kind")
    )


def acknowledgement_summary(
    *, access: policy.PlanAccess, view: ReaderView | StoredView
) -> list[dict[str, object]]:
    """Each family member's latest acknowledgement, in the reader's version numbers, marked
    outdated when content the signer saw has changed since (as far as the reader can see)."""
    latest: dict[object, Acknowledgement] = {}
    for ack in item_list(access=access, model=Acknowledgement).order_by("person_id", "created_at"):
        latest[ack.person_id] = ack
    kinds = signer_kinds(view=view) if latest else {}
    return [
        {
            "person": str(ack.person_id),
            "acknowledgement": str(ack.pk),
            "version": view.reader_version(ack.acknowledged_version),
            "decision": ack.decision,
            "outdated": view.outdated(ack, kinds.get(ack.person_id, "guardian")),
        }
        for ack in latest.values()
    ]


def item_counts(*, access: policy.PlanAccess) -> dict[str, int]:
    """How many readable items of each kind the plan has, in one statement."""
    from plan_service.plans.models import ITEM_MODELS

    counts = {
        name: Subquery(
            policy.items_for(access, model.objects.all())
            .order_by()
            .values("plan_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        for name, model in ITEM_MODELS.items()
    }
    row = Plan.objects.filter(pk=access.plan.pk).values(**counts).first() or {}
    return {name: row.get(name) or 0 for name in ITEM_MODELS}


def assessment_list(*, access: policy.PlanAccess) -> QuerySet[Any]:
    """Maturity assessments of the plan's family's children, newest first."""
    from plan_service.participants.models import MaturityAssessment

    return MaturityAssessment.objects.filter(child__family_id=access.plan.family_id).order_by(
        "-assessed_on", "-created_at", "id"
    )


def visible_item_ids(*, access: policy.PlanAccess) -> dict[str, set[uuid.UUID]]:
    """Item kind -> the ids of the plan's items the reader may see today (by today's rules,
    as the plan's history decides them): what the family's access log may name."""
    return visible_ids(access)


def plan_target(plan_id: uuid.UUID) -> Target | None:
    """A refused request aimed at a plan: its family's people (the access log's question)."""
    family_id = Plan.objects.filter(pk=plan_id).values_list("family_id", flat=True).first()
    if family_id is None:
        return None
    people = family_people([family_id]).get(family_id, [])
    return Target(family_id=family_id, plan_id=plan_id, people=people)
