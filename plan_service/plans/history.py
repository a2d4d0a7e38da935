"""Reading a plan's past: its versions, the plan as it stood at a moment or version, diffs, and
who wrote each part. Every answer is filtered by what the reader may see *today*.

An item appears in any past view only if the reader could read it now (or, for a deleted item,
its last state), and only in the versions whose own category and audience the reader may read.
Related ids inside a row are shown only when they point at items visible the same way.

Query cost is bounded by the number of item kinds, never by items or versions: per kind one
DISTINCT ON query for the state, one for today's visibility and one for deleted items' last states.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from plan_service import policy
from plan_service.plans.models import ITEM_MODELS, Acknowledgement, Plan, PlanItem

#: Fields shown for each item kind in past views (ids of related items are filtered).
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "need": ("title", "description"),
    "goal": ("need_id", "title", "desired_outcome", "evidence", "target_date", "achievement"),
    "action": (
        "goal_id",
        "description",
        "responsible_kind",
        "responsible_user_id",
        "responsible_person_id",
        "responsible_organization_id",
        "due_date",
        "status",
    ),
    "review": ("held_on", "participants", "notes", "progress", "next_review_on"),
    "comment": ("kind", "target_type", "target_id", "text"),
    "dissent": ("target_type", "target_id", "text"),
    "acknowledgement": ("person_id", "acknowledged_version", "content_hash", "decision", "comment"),
}
COMMON_FIELDS = ("category", "concerns")
PLAN_FIELDS = ("status", "summary", "period_start", "period_end")
#: Related-id fields and the kind of item they point at.
REFERENCES = {"need_id": "need", "goal_id": "goal"}


def _history(model: type[PlanItem]) -> Any:
    return model.history.model  # type: ignore[attr-defined]


@dataclass
class Visibility:
    """Which item ids of each kind the reader may see in the past (decided by today's rules)."""

    access: policy.PlanAccess
    ids: dict[str, set[uuid.UUID]] = field(default_factory=dict)

    def allows(self, kind: str, row: Any) -> bool:
        """The item is visible today, and this past version's own category and audience too."""
        return row.id in self.ids.get(kind, set()) and policy.may_read_item(self.access, row)


def visibility(access: policy.PlanAccess) -> Visibility:
    """Today's visible ids per kind: live items via the policy, deleted ones by their last state."""
    vis = Visibility(access)
    for kind, model in ITEM_MODELS.items():
        live = set(policy.items_for(access, model.objects.all()).values_list("pk", flat=True))
        existing = model.objects.filter(plan_id=access.plan.pk).values("pk")
        last_of_deleted = (
            _history(model)
            .objects.filter(plan_id=access.plan.pk)
            .exclude(id__in=existing)
            .order_by("id", "-history_date", "-history_id")
            .distinct("id")
        )
        gone = {row.id for row in last_of_deleted if policy.may_read_item(access, row)}
        vis.ids[kind] = live | gone
    return vis


def _resolve_moment(plan: Plan, as_of: str | None, version: str | None) -> Q:
    """A filter on history rows for 'as it stood': by time or by plan version."""
    if version is not None:
        try:
            number = int(version)
        except ValueError as exc:
            raise ValidationError({"version": [_("A whole number is required.")]}) from exc
        if not 1 <= number <= plan.version:
            raise ValidationError(
                {"version": [_("The plan has versions 1 to %(n)s.") % {"n": plan.version}]}
            )
        return Q(plan_version__lte=number)
    assert as_of is not None  # noqa: S101 - callers pass one of the two
    moment = _parse_datetime(as_of, "as_of")
    return Q(history_date__lte=moment)


def _parse_datetime(value: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError({name: [_("Expected an ISO 8601 date and time.")]}) from exc
    if moment.tzinfo is None:
        raise ValidationError({name: [_("Give the time zone, e.g. 2026-01-31T12:00:00Z.")]})
    return moment


def _row_data(kind: str, row: Any, vis: Visibility) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(row.id)}
    for name in COMMON_FIELDS + ITEM_FIELDS[kind]:
        value = getattr(row, name)
        if name in REFERENCES:
            value = value if value in vis.ids.get(REFERENCES[name], set()) else None
        if name == "progress":
            goals = {str(g) for g in vis.ids.get("goal", set())}
            value = [p for p in value if p.get("goal") in goals]
        data[name.removesuffix("_id") if name.endswith("_id") else name] = _plain(value)
    data["hidden_from_guardians"] = row.restricted_by_id is not None
    data["version"] = row.version
    data["plan_version"] = row.plan_version
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _names(user_ids: set[Any]) -> dict[Any, str]:
    users = get_user_model().objects.filter(pk__in=[u for u in user_ids if u is not None])
    return {u.pk: u.get_full_name() or u.get_username() for u in users}


def plan_as_of(
    *, access: policy.PlanAccess, as_of: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """The plan and its items as they stood, with who wrote each item's text at that point."""
    plan = access.plan
    moment = _resolve_moment(plan, as_of, version)
    plan_row = (
        _history(Plan)
        .objects.filter(id=plan.pk)
        .filter(moment if version is None else Q(version__lte=int(version)))
        .order_by("-history_date", "-history_id")
        .first()
    )
    if plan_row is None:
        raise ValidationError({"as_of": [_("The plan did not exist yet.")]})
    vis = visibility(access)
    items: dict[str, list[dict[str, Any]]] = {}
    authors: set[Any] = {plan_row.history_user_id}
    rows_by_kind: dict[str, list[Any]] = {}
    for kind, model in ITEM_MODELS.items():
        latest = (
            _history(model)
            .objects.filter(plan_id=plan.pk)
            .filter(moment)
            .order_by("id", "-history_date", "-history_id")
            .distinct("id")
        )
        rows = [r for r in latest if r.history_type != "-" and vis.allows(kind, r)]
        rows_by_kind[kind] = rows
        authors |= {r.history_user_id for r in rows}
    names = _names(authors)
    for kind, rows in rows_by_kind.items():
        items[kind] = [
            {
                **_row_data(kind, r, vis),
                "written_by": names.get(r.history_user_id),
                "written_at": r.history_date.isoformat(),
            }
            for r in sorted(rows, key=lambda r: (r.created_at, str(r.id)))
        ]
    return {
        "plan": str(plan.pk),
        "version": plan_row.version,
        "as_of": plan_row.history_date.isoformat(),
        **{name: _plain(getattr(plan_row, name)) for name in PLAN_FIELDS},
        "items": items,
    }


def state_at(
    access: policy.PlanAccess, vis: Visibility, version: int
) -> dict[tuple[str, str], Any]:
    """The latest row of every item visible by today's rules, at a plan version (key: kind, id)."""
    state: dict[tuple[str, str], Any] = {}
    for kind, model in ITEM_MODELS.items():
        latest = (
            _history(model)
            .objects.filter(plan_id=access.plan.pk, plan_version__lte=version)
            .order_by("id", "-history_date", "-history_id")
            .distinct("id")
        )
        for row in latest:
            if row.history_type != "-" and vis.allows(kind, row):
                state[(kind, str(row.id))] = row
    return state


def plan_diff(*, access: policy.PlanAccess, from_version: str, to_version: str) -> dict[str, Any]:
    """Items added, removed and changed between two plan versions, field by field."""
    numbers = []
    for name, raw in (("from", from_version), ("to", to_version)):
        try:
            number = int(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError({name: [_("A whole number is required.")]}) from exc
        if not 1 <= number <= access.plan.version:
            raise ValidationError(
                {name: [_("The plan has versions 1 to %(n)s.") % {"n": access.plan.version}]}
            )
        numbers.append(number)
    vis = visibility(access)
    before = state_at(access, vis, numbers[0])
    after = state_at(access, vis, numbers[1])
    added, removed, changed = [], [], []
    for key in sorted(after.keys() - before.keys()):
        added.append({"type": key[0], **_row_data(key[0], after[key], vis)})
    for key in sorted(before.keys() - after.keys()):
        removed.append({"type": key[0], **_row_data(key[0], before[key], vis)})
    for key in sorted(before.keys() & after.keys()):
        old, new = _row_data(key[0], before[key], vis), _row_data(key[0], after[key], vis)
        fields = {
            name: {"from": old[name], "to": new[name]}
            for name in new
            if name not in ("version", "plan_version") and old.get(name) != new[name]
        }
        if fields:
            changed.append(
                {
                    "type": key[0],
                    "id": key[1],
                    "from_version": old["version"],
                    "to_version": new["version"],
                    "fields": fields,
                }
            )
    return {
        "from": numbers[0],
        "to": numbers[1],
        "added": added,
        "removed": removed,
        "changed": changed,
    }


def version_list(*, access: policy.PlanAccess) -> QuerySet[Any]:
    """The plan's versions, newest first (HistoricalPlan rows, one per version)."""
    return (
        _history(Plan)
        .objects.filter(id=access.plan.pk)
        .values("version")
        .annotate(last=Max("history_id"))
        .order_by("-version")
    )


def version_entries(*, access: policy.PlanAccess, versions: list[int]) -> list[dict[str, Any]]:
    """For a page of versions: who, when, why, and which visible items each changed."""
    vis = visibility(access)
    plan_rows = {
        r.version: r
        for r in _history(Plan)
        .objects.filter(id=access.plan.pk, version__in=versions)
        .order_by("version", "history_date", "history_id")
    }
    changes: dict[int, list[dict[str, Any]]] = {v: [] for v in versions}
    authors = {r.history_user_id for r in plan_rows.values()}
    for kind, model in ITEM_MODELS.items():
        if model is Acknowledgement:
            continue  # a signature is about a version, it does not make one
        for row in (
            _history(model)
            .objects.filter(plan_id=access.plan.pk, plan_version__in=versions)
            .order_by("history_date", "history_id")
        ):
            if vis.allows(kind, row):
                changes[row.plan_version].append(
                    {
                        "type": kind,
                        "id": str(row.id),
                        "change": {"+": "added", "~": "changed", "-": "removed"}[row.history_type],
                    }
                )
    names = _names(authors)
    entries = []
    for v in versions:
        row = plan_rows.get(v)
        if row is None:
            continue
        entries.append(
            {
                "version": v,
                "at": row.history_date.isoformat(),
                "by": names.get(row.history_user_id),
                "reason": row.history_change_reason or "",
                "changes": changes[v],
            }
        )
    return entries


def item_version(
    *, model: type[PlanItem], access: policy.PlanAccess, item_id: Any, version: int
) -> Any:
    """An earlier version of one item the reader may see today (for restore)."""
    vis = visibility(access)
    kind = model._meta.model_name
    row = (
        _history(model)
        .objects.filter(plan_id=access.plan.pk, id=item_id, version=version)
        .exclude(history_type="-")
        .order_by("-history_date")
        .first()
    )
    if row is None or not vis.allows(kind, row):
        raise ValidationError({"version": [_("No such version of this item.")]})
    return row


def restorable_values(model: type[PlanItem], row: Any) -> dict[str, Any]:
    """The fields of a past version that a restore writes back as a new version."""
    kind = model._meta.model_name
    values = {name: getattr(row, name) for name in COMMON_FIELDS + ITEM_FIELDS[kind]}
    for name in list(values):
        if name.endswith("_id"):
            values[name.removesuffix("_id")] = values.pop(name)
    return values
