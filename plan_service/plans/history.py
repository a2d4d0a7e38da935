"""Reading a plan's past: its versions, the plan as it stood at a moment or version, diffs, and
who wrote each part. Every answer is what the reader can see *today*, in the reader's own
version numbers (plans/visibility.py decides both).

* A version whose changes the reader cannot see does not exist for them; a version with some
  visible changes lists only those. Its author and time are shown only when it exists for the
  reader; the writer's free-text reason only when the reader can see every change it made.
* An item appears in a past view only if the reader could read it now (or, for a deleted item,
  its last state), and only in the versions whose own category and audience the reader may read.
  Related ids inside a row are shown only when they point at items visible the same way.

Query cost is bounded by the number of item kinds, never by items or versions: one query per
kind (and one for the plan) reads the history, and the views are computed from those rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.plans import kinds
from plan_service.plans.models import ChangeCode, PlanItem
from plan_service.plans.visibility import (
    COMMON_FIELDS,
    PLAN_FIELDS,
    Change,
    ReaderView,
    plain,
    project,
    reader_view,
)


def _number(view: ReaderView, raw: Any, name: str) -> int:
    """A reader's plan version from a query parameter; 400 naming the parameter otherwise."""
    try:
        number = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError({name: [_("A whole number is required.")]}) from exc
    if not 1 <= number <= view.version:
        raise ValidationError(
            {name: [_("The plan has versions 1 to %(n)s.") % {"n": view.version}]}
        )
    return number


def _parse_datetime(value: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError({name: [_("Expected an ISO 8601 date and time.")]}) from exc
    if moment.tzinfo is None:
        raise ValidationError({name: [_("Give the time zone, e.g. 2026-01-31T12:00:00Z.")]})
    return moment


def _row_data(view: ReaderView, change: Change) -> dict[str, Any]:
    data = project(change.kind, change.row, view.vis)
    data["version"] = change.number
    data["plan_version"] = view.reader_version(change.row.plan_version)
    return data


def state_at(view: ReaderView, last_stored: int) -> dict[tuple[str, str], Change]:
    """Each item's last visible change up to a stored plan version, if it shows then."""
    state: dict[tuple[str, str], Change] = {}
    for (kind, item_id), changes in view.items.items():
        latest = None
        for change in changes:
            if change.row.plan_version <= last_stored:
                latest = change
        if latest is not None and latest.present:
            state[(kind, str(item_id))] = latest
    return state


def _stored_at_moment(view: ReaderView, moment: dt.datetime) -> int:
    """The last stored version made at or before `moment`, by the plan's own rows."""
    made = [v for v, row in view.plan_rows.items() if row.history_date <= moment]
    for changes in view.by_version.values():
        made += [c.row.plan_version for c in changes if c.row.history_date <= moment]
    if not made:
        raise ValidationError({"as_of": [_("The plan did not exist yet.")]})
    return max(made)


def plan_as_of(
    *, access: policy.PlanAccess, as_of: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """The plan and its items as they stood, with who wrote each item's text at that point."""
    view = reader_view(access)
    if version is not None:
        number = _number(view, version, "version")
    else:
        assert as_of is not None  # noqa: S101 - callers pass one of the two
        number = view.reader_version(_stored_at_moment(view, _parse_datetime(as_of, "as_of")))
    first, last = view.stored_range(number)
    plan_row = view.plan_rows.get(max((v for v in view.plan_rows if v <= last), default=0))
    if plan_row is None:
        raise ValidationError({"as_of": [_("The plan did not exist yet.")]})
    made_at, _by = view.made(first)
    state = state_at(view, last)
    items: dict[str, list[dict[str, Any]]] = {kind.name: [] for kind in kinds.all_kinds()}
    for (kind, _id), change in sorted(
        state.items(), key=lambda kv: (kv[1].row.created_at, kv[0][1])
    ):
        items[kind].append(
            {
                **_row_data(view, change),
                "written_by": view.name(change.row.history_user_id),
                "written_at": change.row.history_date.isoformat(),
            }
        )
    return {
        "_stored_version": first,  # for the access log (auditors see stored versions)
        "plan": str(access.plan.pk),
        "version": number,
        "as_of": (made_at or plan_row.history_date).isoformat(),
        **{name: plain(getattr(plan_row, name)) for name in PLAN_FIELDS},
        "items": items,
    }


def plan_diff(*, access: policy.PlanAccess, from_version: str, to_version: str) -> dict[str, Any]:
    """Items added, removed and changed between two of the reader's versions, field by field."""
    view = reader_view(access)
    numbers = [
        _number(view, raw, name) for name, raw in (("from", from_version), ("to", to_version))
    ]
    before = state_at(view, view.stored_range(numbers[0])[1])
    after = state_at(view, view.stored_range(numbers[1])[1])
    added, removed, changed = [], [], []

    def in_order(keys: set[tuple[str, str]], state: dict[tuple[str, str], Change]) -> list[Any]:
        # By kind, then as the plan shows them (oldest first), then id.
        return sorted(keys, key=lambda k: (k[0], state[k].row.created_at, k[1]))

    for key in in_order(after.keys() - before.keys(), after):
        added.append({"type": key[0], **_row_data(view, after[key])})
    for key in in_order(before.keys() - after.keys(), before):
        removed.append({"type": key[0], **_row_data(view, before[key])})
    for key in in_order(before.keys() & after.keys(), after):
        old, new = _row_data(view, before[key]), _row_data(view, after[key])
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
        "_stored_version": view.stored_range(numbers[1])[0],
        "from": numbers[0],
        "to": numbers[1],
        "added": added,
        "removed": removed,
        "changed": changed,
    }


def version_numbers(view: ReaderView) -> list[int]:
    """The reader's versions, newest first (a list the paginator pages)."""
    return list(range(view.version, 0, -1))


def version_entries(*, view: ReaderView, numbers: list[int]) -> list[dict[str, Any]]:
    """For a page of the reader's versions: who, when, why, and which visible items changed.

    The reason code is shown for every version that exists for the reader; the writer's own
    words only when the reader can see every change of that version.
    """
    entries = []
    for number in numbers:
        stored = view.versions[number - 1] if view.versions else view.current
        at, by = view.made(stored)
        row = view.plan_rows.get(stored)
        code = (row.history_change_reason if row is not None else "") or ""
        if code not in ChangeCode.values:
            code = ChangeCode.OTHER if code else ChangeCode.ITEM_CHANGED
        whole = stored not in view.partly_hidden
        entries.append(
            {
                "version": number,
                "at": at.isoformat() if at else None,
                "by": view.name(by),
                "reason_code": code,
                "reason_label": str(ChangeCode(code).label),
                "reason": (row.change_note if row is not None and whole else "") or "",
                "changes": [
                    {"type": c.kind, "id": str(c.row.id), "change": c.word}
                    for c in view.by_version.get(stored, [])
                ],
            }
        )
    return entries


def item_version(
    *, model: type[PlanItem], access: policy.PlanAccess, item_id: Any, version: int
) -> Any:
    """An earlier version of one item the reader may see today, by the reader's item version."""
    view = reader_view(access)
    kind = model._meta.model_name
    changes = view.item_changes(kind, item_id)
    match = [c for c in changes if c.number == version and c.present]
    if kinds.get(kind).signature or not match:
        raise ValidationError({"version": [_("No such version of this item.")]})
    return match[0].row


def restorable_values(model: type[PlanItem], row: Any) -> dict[str, Any]:
    """The fields of a past version that a restore writes back as a new version."""
    values = {name: getattr(row, name) for name in COMMON_FIELDS + kinds.of(model).fields}
    for name in list(values):
        if name.endswith("_id"):
            values[name.removesuffix("_id")] = values.pop(name)
    return values
