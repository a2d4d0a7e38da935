"""What one reader can see of a plan's past, and so which versions exist for them.

Noninterference: two worlds that differ only in what a reader may not see must look the same
to that reader. Versions are where that is hardest, because every write advances the plan's
version, whoever can see it. So no view shows the stored version: every version number, ETag,
`updated_at`/`updated_by`, history entry and acknowledgement state a reader gets comes from
`reader_view(access)`, the one function in this module that views call. A write's If-Match
check, which needs one item's version only, calls `item_version`: the same replay (`_replay`)
over that item's rows.

The rules, all decided from the history tables by today's policy (docs/architecture.md,
"Reader-relative versions"):

* A historical item row is *shown* to the reader when the item is visible to them today (or,
  for a removed item, its last state was) and the row's own category and audience are.
* A row is a *visible change* when what the reader sees of the item differs from what they saw
  after the previous row: it appeared, disappeared, or a field they can see changed (links to
  items they cannot see read as null, so re-linking between hidden items is no change). A save
  that changed nothing is a visible change for everyone who sees the item.
* A plan version exists for the reader when it holds a visible change, or when it changed the
  plan itself or its team (those every reader of the plan sees). The reader's version number is
  the count of such versions; their version k covers the stored versions from the k-th visible
  one up to the next.
* An item's version for the reader is the count of its visible changes; its `created_*` and
  `updated_*` are those of its first and last visible change.

Writes still lock the row and compare: the service computes the writer's own reader version
under the lock and compares it with If-Match, so a write based on a stale *visible* state is
refused (412), and no update the writer could see is lost; changes they cannot see do not make
their view stale and are not touched by their write.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.utils import create_namedtuple_class

from plan_service import policy, prepared
from plan_service.participants.models import Organization, Professional
from plan_service.plans import kinds
from plan_service.plans.models import Acknowledgement, Plan, PlanItem

M = TypeVar("M", bound=Model)

COMMON_FIELDS = ("category", "concerns")
PLAN_FIELDS = ("status", "summary", "period_start", "period_end")


@functools.cache
def history_model(model: type[Any]) -> Any:
    """The django-simple-history model of a tracked model (kept: simple-history builds a new
    manager class on every access to `model.history`, about 0.3 ms each)."""
    return model.history.model


def history_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Historical rows as light named tuples with every column by its attribute name (`need_id`,
    `history_user_id`, ...). A typical plan's view reads thousands of them; building a model
    instance for each was most of the time of every plan read and write. `history_instance`
    makes a model instance of one when one is needed."""
    names = [f.attname for f in queryset.model._meta.concrete_fields]
    return queryset.values_list(*names, named=True)


def history_instance(model: type[M], row: Any) -> M:
    """The item as it stood in a historical row (`history_rows`), as a model instance."""
    return model(**{f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields})


def plain(value: Any) -> Any:
    """A JSON-ready value: ids and dates as strings, lists element by element."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass
class Visibility:
    """Which item ids of each kind the reader may see in the past (decided by today's rules)."""

    access: policy.PlanAccess
    ids: dict[str, set[uuid.UUID]] = field(default_factory=dict)

    def allows(self, kind: str, row: Any) -> bool:
        """The item is visible today, and this past version's own category and audience too."""
        return row.id in self.ids.get(kind, set()) and policy.may_read_item(self.access, row)


def project(kind: str, row: Any, vis: Visibility) -> dict[str, Any]:
    """What the reader sees of one historical item row (no version numbers)."""
    declared = kinds.get(kind)
    data: dict[str, Any] = {"id": str(row.id)}
    for name in COMMON_FIELDS + declared.fields:
        value = kinds.visible_value(declared, name, getattr(row, name), vis.ids)
        data[name.removesuffix("_id") if name.endswith("_id") else name] = plain(value)
    data["hidden_from_guardians"] = row.restricted_by_id is not None
    return data


def _raw(kind: str, row: Any) -> tuple[Any, ...]:
    return tuple(
        plain(getattr(row, name))
        for name in (*COMMON_FIELDS, *kinds.get(kind).fields, "restricted_by_id")
    )


@dataclass(frozen=True)
class Change:
    """One visible change of an item: the historical row, and whether the item shows after it."""

    kind: str
    row: Any
    present: bool
    number: int  # the item's version for this reader after this change
    word: str  # added, changed or removed, as the reader sees it


def reader_number(versions: list[int], stored: int) -> int:
    """A reader's number for a stored plan version, given the stored versions that exist for
    them (ascending): the count of those at or before it, at least 1."""
    return max(bisect.bisect_right(versions, stored), 1)


class _Numbers:
    """Version numbers and an item's metadata as one reader sees them, from the stored plan
    versions that exist for the reader (`versions`) and the item's visible changes. Shared by
    `ReaderView` (the whole plan) and `ItemView` (one item)."""

    access: policy.PlanAccess
    versions: list[int]
    current: int
    _names: dict[Any, str] | None

    def item_changes(self, kind: str, item_id: Any) -> list[Change]:
        raise NotImplementedError

    def _authors(self) -> set[Any]:
        raise NotImplementedError

    def reader_version(self, stored: int) -> int:
        """The reader's number for a stored plan version (the last visible one at or before)."""
        return reader_number(self.versions, stored)

    def item_version(self, kind: str, item_id: Any, default: int = 1) -> int:
        """The item's version (its ETag) for this reader: the count of its visible changes."""
        changes = self.item_changes(kind, item_id)
        return changes[-1].number if changes else default

    def item_meta(self, item: PlanItem) -> dict[str, Any]:
        """Version, plan version, created and updated (at, by) of a live item, for this reader."""
        kind = item._meta.model_name
        changes = self.item_changes(kind, item.pk)
        if not changes:  # no history (test data written around the services): the row as is
            return {
                "version": item.version,
                "plan_version": self.reader_version(item.plan_version),
                "created_at": item.created_at,
                "created_by": self.name(item.created_by_id),
                "updated_at": item.updated_at,
                "updated_by": self.name(item.updated_by_id),
            }
        first = next((c for c in changes if c.present), changes[0])
        last = changes[-1]
        return {
            "version": last.number,
            "plan_version": self.reader_version(last.row.plan_version),
            "created_at": first.row.history_date,
            "created_by": self.name(first.row.history_user_id),
            "updated_at": last.row.history_date,
            "updated_by": self.name(last.row.history_user_id),
        }

    def name(self, user_id: Any) -> str | None:
        """A user's display name (all names of the view's authors are loaded in one query)."""
        if user_id is None:
            return None
        if self._names is None or user_id not in self._names:
            ids = self._authors()
            ids.add(user_id)
            self._names = user_names(ids, for_family=policy.is_family(self.access))
        return self._names.get(user_id)


@dataclass
class ReaderView(_Numbers):
    """One reader's view of one plan's versions (built by `reader_view`)."""

    access: policy.PlanAccess
    vis: Visibility
    #: Stored plan versions that exist for this reader, ascending.
    versions: list[int]
    #: Stored plan version -> its latest historical plan row.
    plan_rows: dict[int, Any]
    #: (kind, item id) -> the item's visible changes, in order.
    items: dict[tuple[str, uuid.UUID], list[Change]]
    #: Stored plan version -> the visible changes it made (signatures excluded).
    by_version: dict[int, list[Change]]
    #: Stored plan versions holding at least one change this reader cannot see.
    partly_hidden: set[int]
    current: int  # the stored version of the plan now
    _names: dict[Any, str] | None = None

    #
    # Plan versions
    #

    @property
    def version(self) -> int:
        """The plan's version as this reader sees it: how many versions exist for them."""
        return max(len(self.versions), 1)

    def stored_range(self, number: int) -> tuple[int, int]:
        """The stored versions the reader's version `number` covers (first, last)."""
        if not self.versions:
            return (self.current, self.current)
        first = self.versions[number - 1]
        last = self.versions[number] - 1 if number < len(self.versions) else self.current
        return (first, last)

    def made(self, stored: int) -> tuple[dt.datetime | None, Any]:
        """When and by whom (user id) a stored version that exists for the reader was made."""
        changes = self.by_version.get(stored)
        if changes:
            return changes[0].row.history_date, changes[0].row.history_user_id
        row = self.plan_rows.get(stored)
        if row is None:
            return None, None
        return row.history_date, row.history_user_id

    @property
    def updated(self) -> tuple[dt.datetime | None, Any]:
        """When and by whom the plan last changed, as far as the reader can see."""
        if not self.versions:
            return None, None
        return self.made(self.versions[-1])

    #
    # Items
    #

    def item_changes(self, kind: str, item_id: Any) -> list[Change]:
        return self.items.get((kind, _uuid(item_id)), [])

    def _authors(self) -> set[Any]:
        ids = {c.row.history_user_id for cs in self.items.values() for c in cs}
        return ids | {r.history_user_id for r in self.plan_rows.values()}

    #
    # Signatures
    #

    def outdated(self, ack: Acknowledgement, signer_kind: str) -> bool:
        """Whether what the signer saw has changed since they signed, as far as this reader
        can tell: a change both the signer and this reader can see came after the signature."""
        signed = ack.acknowledged_version
        signer = _Signer(kind=signer_kind, person_id=ack.person_id)
        for stored in self.versions:
            if stored <= signed:
                continue
            changes = self.by_version.get(stored)
            if not changes:
                if _plan_fields_changed(self.plan_rows, stored):
                    return True
                continue
            for change in changes:
                latest = self.items[(change.kind, change.row.id)][-1].row
                if signer.sees(change.row) or signer.sees(latest):
                    return True
        return False


@dataclass(frozen=True)
class _Signer:
    kind: str
    person_id: Any

    def sees(self, row: Any) -> bool:
        # Signers are the family (a guardian or the child), so the audience rule is theirs.
        return policy.sees_restricted(self.kind, self.person_id, row.restricted_by_id)


def _plan_fields_changed(plan_rows: dict[int, Any], stored: int) -> bool:
    row = plan_rows.get(stored)
    earlier = [v for v in plan_rows if v < stored]
    if row is None or not earlier:
        return False
    before = plan_rows[max(earlier)]
    return any(getattr(row, f) != getattr(before, f) for f in PLAN_FIELDS)


def _uuid(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return value


def user_names(user_ids: Iterable[Any], *, for_family: bool = False) -> dict[Any, str]:
    """Display names of users. Shown to a family, a professional who must not be named to
    families (`Professional.hide_name_from_family`, for their safety) is their unit (or their
    organisation), as on the family's pages and in the family's access log."""
    ids = sorted({u for u in user_ids if u is not None})
    if not ids:
        return {}
    user_model = get_user_model()
    columns = prepared.columns(user_model)
    if for_family:
        columns += [
            *prepared.columns(Professional, "professional__"),
            *prepared.columns(Organization, "professional__organization__"),
        ]

    def build(**given: object) -> QuerySet[Any]:
        return user_model.objects.filter(pk__in=list(given.values())).order_by().values(*columns)

    if len(ids) <= _COMPILED_NAMES:
        # Compiled once per count and audience (`prepared`): every write's answer names its
        # authors, one or two people.
        rows = prepared.rows(
            ("user_names", len(ids), for_family),
            build,
            {f"u{i}": prepared.Slot.integer(i) for i in range(len(ids))},
            {f"u{i}": user_id for i, user_id in enumerate(ids)},
        )
    else:
        rows = list(build(**{f"u{i}": user_id for i, user_id in enumerate(ids)}))
    names = {}
    for row in rows:
        u = prepared.instance(user_model, row)
        professional = (
            prepared.instance(Professional, row, "professional__") if for_family else None
        )
        if professional is not None and professional.hide_name_from_family:
            professional.organization = prepared.instance(
                Organization, row, "professional__organization__"
            )
            names[u.pk] = professional.name_for_family
        else:
            names[u.pk] = u.get_full_name() or u.get_username()
    return names


#: Up to how many users `user_names` looks up by a compiled statement (one per count).
_COMPILED_NAMES = 8


#
# This transaction's own writes: the plan version each plan was saved at (a write locks the
# plan row first, so nobody else's version can come between). Kept on the connection, cleared
# when the transaction commits and when a request starts (after a rollback).
#

_WRITTEN = "plan_versions_written"


def note_written(sender: Any, instance: Plan, **kwargs: Any) -> None:
    """`post_save` of Plan: remember the version this transaction saved the plan at."""
    written = getattr(connection, _WRITTEN, None)
    if written is None:
        written = {}
        setattr(connection, _WRITTEN, written)
        transaction.on_commit(forget_written)
    written[instance.pk] = max(instance.version, written.get(instance.pk, 0))


def forget_written(**kwargs: Any) -> None:
    setattr(connection, _WRITTEN, None)
    setattr(connection, _ITEM_WRITTEN, None)
    setattr(connection, _REPLAYED, None)


_ITEM_WRITTEN = "plan_item_written"


def note_item_written(plan: Plan, kind: str, item_id: Any) -> None:
    """A service wrote one item of `kind`, and nothing else, at the plan version it just
    advanced `plan` to. `item_view` continues the class's plan versions from the version before
    only after such a write, and only for the same locked `plan` instance: a later transaction
    decides its access on an instance of its own, so a note a rollback left behind never
    applies to it."""
    setattr(connection, _ITEM_WRITTEN, (plan, plan.version, kind, _uuid(item_id)))


def note_history_written(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """`post_create_historical_record`: a historical row written after `note_item_written` for
    the same plan (a second item, the plan itself) means the version wrote more than the noted
    item, so the note no longer holds."""
    note = getattr(connection, _ITEM_WRITTEN, None)
    if note is None:
        return
    plan_id = getattr(history_instance, "plan_id", None)
    if isinstance(history_instance, history_model(Plan)):
        plan_id = history_instance.id
    if plan_id is not None and str(plan_id) == str(note[0].pk):
        setattr(connection, _ITEM_WRITTEN, None)


def _item_written(plan: Plan, upto: int, kind: str, item_id: Any) -> bool:
    """Whether this request's last write was `note_item_written(plan, kind, item_id)` at
    `upto`, and the plan has not advanced since."""
    note = getattr(connection, _ITEM_WRITTEN, None)
    return (
        note is not None
        and note[0] is plan
        and note[1:] == (upto, kind, item_id)
        and plan.version == upto
    )


def written_version(plan_id: Any) -> int:
    written = getattr(connection, _WRITTEN, None) or {}
    return written.get(plan_id, 0)


def reader_view(access: policy.PlanAccess) -> ReaderView:
    """The reader's view of the plan's versions: THE function behind every version, ETag,
    `updated_*`, history entry and signature state a plan reader is shown.

    One query for the plan's historical rows and one per item kind, whatever the plan's size
    in versions (the work in Python grows with the plan's history rows). Call it inside the
    request's transaction, after any write of the request, so it sees that write.
    """
    return reader_views([access])[0]


def reader_views(accesses: Sequence[policy.PlanAccess]) -> list[ReaderView]:
    """`reader_view` for many accesses (a bulk export's chunk), in as many queries as one:
    one for the plans' historical rows and one per item kind, whatever the number of plans.
    Accesses may share a plan (different recipients); each gets its own view, in order."""
    plan_ids = sorted({a.plan.pk for a in accesses}, key=str)
    plan_history: dict[Any, list[Any]] = {pk: [] for pk in plan_ids}
    for row in history_rows(
        history_model(Plan).objects.filter(id__in=plan_ids).order_by("history_date", "history_id")
    ):
        plan_history[row.id].append(row)
    declared = kinds.all_kinds()
    item_history: dict[Any, dict[str, list[Any]]] = {
        pk: {kind.name: [] for kind in declared} for pk in plan_ids
    }
    for kind in declared:
        for row in history_rows(
            history_model(kind.model)
            .objects.filter(plan_id__in=plan_ids)
            .order_by("id", "history_date", "history_id")
        ):
            item_history[row.plan_id][kind.name].append(row)
    return [_view(a, plan_history[a.plan.pk], item_history[a.plan.pk]) for a in accesses]


class _Latest(NamedTuple):
    """An item's latest historical row, with what `policy.may_read_item` asks of it."""

    kind: int  # the index of its kind in `kinds.all_kinds()`
    id: uuid.UUID
    plan_id: uuid.UUID
    category: str
    concerns: list[uuid.UUID]
    restricted_by_id: uuid.UUID | None


@functools.cache
def _latest_rows_sql(tables: tuple[str, ...]) -> str:
    """One statement over every kind's history table (built once per set of kinds): each
    item's latest row of the plan up to a version (per kind what `DISTINCT ON (id) ... ORDER BY
    id, history_date DESC, history_id DESC` gives), tagged with its kind's index."""
    quote = connection.ops.quote_name
    # Only the models' own table names, quoted, and integers go into the text.
    return " UNION ALL ".join(
        f"(SELECT DISTINCT ON (id) {index} AS kind, id, plan_id, category, concerns,"  # noqa: S608
        f" restricted_by_id FROM {quote(table)}"
        " WHERE plan_id = %(plan)s AND plan_version <= %(upto)s"
        " ORDER BY id, history_date DESC, history_id DESC)"
        for index, table in enumerate(tables)
    )


def visible_ids(access: policy.PlanAccess) -> dict[str, set[uuid.UUID]]:
    """Item kind -> the ids of the plan's items the reader may see today: `reader_view(access)
    .vis.ids`, decided the same way (each item by its latest historical row up to the version
    the view would end at, removed items by their last state) without reading and replaying
    the plan's history: one statement for every kind (prepared on the server, like the read
    model's lookup), reading one row per item."""
    plan = access.plan
    declared = kinds.all_kinds()
    tables = tuple(history_model(kind.model)._meta.db_table for kind in declared)
    ids: dict[str, set[uuid.UUID]] = {kind.name: set() for kind in declared}
    with prepared.server_cursor() as cursor:
        cursor.execute(
            _latest_rows_sql(tables),
            {"plan": plan.pk, "upto": max(plan.version, written_version(plan.pk))},
        )
        rows = [_Latest(*row) for row in cursor.fetchall()]
    for row in rows:
        if policy.may_read_item(access, row):  # type: ignore[arg-type]
            ids[declared[row.kind].name].add(row.id)
    return ids


def preload_names(views: Iterable[ReaderView]) -> None:
    """Load the display names every view may show in one query (instead of one per view)."""
    views = list(views)
    ids: set[Any] = set()
    for view in views:
        ids |= {c.row.history_user_id for cs in view.items.values() for c in cs}
        ids |= {r.history_user_id for r in view.plan_rows.values()}
    ids.discard(None)
    names = {
        family: user_names(ids, for_family=family)
        for family in {policy.is_family(view.access) for view in views}
    }
    for view in views:
        # A user since deleted has no name.
        view._names = {i: names[policy.is_family(view.access)].get(i) for i in ids}


def _view(
    access: policy.PlanAccess, plan_history: list[Any], rows_by_kind: dict[str, list[Any]]
) -> ReaderView:
    """One reader's view built from the plan's historical rows (oldest first) and its items'
    (by item, oldest first)."""
    plan = access.plan
    # The view ends at the plan row the access was decided on, or at this transaction's own
    # last write to the plan if later. A write another transaction commits between this
    # request's statements is not in the body the reader is shown either (read committed: each
    # statement sees what is committed when it starts), so no version may count it: an ETag
    # newer than its body would let a write based on that body pass If-Match and overwrite the
    # change it never saw. Older is safe: the write gets a 412.
    upto = max(plan.version, written_version(plan.pk))
    plan_rows: dict[int, Any] = {}
    for row in plan_history:
        if row.version <= upto:
            plan_rows[row.version] = row
    rows_by_kind = {
        kind: [row for row in rows if row.plan_version <= upto]
        for kind, rows in rows_by_kind.items()
    }
    # Today's visibility: an item's last row is its current state (or, if removed, its last).
    vis = Visibility(access)
    for kind, rows in rows_by_kind.items():
        last: dict[uuid.UUID, Any] = {}
        for row in rows:
            last[row.id] = row
        vis.ids[kind] = {i for i, row in last.items() if policy.may_read_item(access, row)}

    items: dict[tuple[str, uuid.UUID], list[Change]] = {}
    by_version: dict[int, list[Change]] = {}
    partly_hidden: set[int] = set()
    item_versions: set[int] = set()
    for kind, rows in rows_by_kind.items():
        signature = kinds.get(kind).signature
        for row, change in _replay(kind, rows, vis):
            if not signature:
                item_versions.add(row.plan_version)
            if change is not None:
                items.setdefault((kind, row.id), []).append(change)
                if not signature:
                    by_version.setdefault(row.plan_version, []).append(change)
            elif not signature:
                partly_hidden.add(row.plan_version)
    team_or_plan = {v for v in plan_rows if v not in item_versions}
    versions = sorted(team_or_plan | set(by_version))
    for changes in by_version.values():
        changes.sort(key=lambda c: (c.row.history_date, c.row.history_id))
    return ReaderView(
        access=access,
        vis=vis,
        versions=versions,
        plan_rows=plan_rows,
        items=items,
        by_version=by_version,
        partly_hidden=partly_hidden,
        current=max([plan.version, *plan_rows]) if plan_rows else plan.version,
    )


class _Replayer:
    """What each historical row of items of one kind (by item, oldest first) changes for the
    reader, one row at a time, so a replay can be continued with rows written later."""

    def __init__(self, kind: str, vis: Visibility) -> None:
        self.kind, self.vis = kind, vis
        self.item_id: Any = None
        self.previous: dict[str, Any] | None = None  # None: the item does not show
        self.previous_raw: tuple[Any, ...] | None = None
        self.number = 0

    def feed(self, row: Any) -> Change | None:
        """The visible change `row` makes for the reader, or None when they see no change."""
        if row.id != self.item_id:
            self.item_id, self.previous, self.previous_raw, self.number = row.id, None, None, 0
        previous = self.previous
        shown = row.history_type != "-" and self.vis.allows(self.kind, row)
        seen = project(self.kind, row, self.vis) if shown else None
        raw = _raw(self.kind, row)
        same_save = shown and previous is not None and raw == self.previous_raw
        self.previous, self.previous_raw = seen, raw
        if seen != previous or same_save:
            self.number += 1
            word = "added" if previous is None else ("removed" if seen is None else "changed")
            return Change(self.kind, row, seen is not None, self.number, word)
        return None


def _replay(kind: str, rows: Iterable[Any], vis: Visibility) -> Iterator[tuple[Any, Change | None]]:
    """Each historical row of items of one kind (by item, oldest first) with the visible change
    it makes for the reader, or None when the reader sees no change in it."""
    replayer = _Replayer(kind, vis)
    for row in rows:
        yield row, replayer.feed(row)


@dataclass
class _ItemReplay:
    """One item's rows up to stored version `upto`, replayed for one class of readers."""

    #: A replay that is kept holds committed rows only (`_replayed`), so it is the same for
    #: every transaction that asks for the same plan, class, item and version.
    plan_id: Any
    visibility: str
    kind: str
    item_id: uuid.UUID
    upto: int
    rows: list[Any]
    changes: list[Change]
    replayer: _Replayer
    #: Per kind, the ids whose visibility `replayer.vis` holds (the item and those it names).
    known: dict[str, set[uuid.UUID]]

    def continue_to(self, access: policy.PlanAccess, upto: int) -> bool:
        """Continue the replay with the item's rows written after `self.upto`, up to `upto`,
        when that gives what replaying from the start would: the item's own visibility is
        unchanged (every earlier row's projection depends on it). Items it newly names are
        looked up; those it named before have not changed (the caller knows that only this
        item was written since). False, with nothing changed, when it cannot be continued."""
        new = self._rows_since(access, upto)
        return bool(new) and self._take(access, new, upto)

    def _since(self, upto: int) -> Q:
        """Rows written after the replay's version, up to `upto`."""
        return Q(plan_version__gt=self.upto, plan_version__lte=upto)

    def _rows_since(
        self, access: policy.PlanAccess, upto: int, last: int | None = None
    ) -> list[Any]:
        """The item's history rows written after the replay's version, up to `upto` (and the
        row `last`, by its history id), oldest first as a replay feeds them: as `history_rows`
        gives them, by a statement compiled once per kind (`prepared`), which every write's
        answer runs."""
        model = history_model(kinds.get(self.kind).model)
        names = tuple(f.attname for f in model._meta.concrete_fields)
        values = {"plan": access.plan.pk, "item": self.item_id, "after": self.upto, "upto": upto}
        placeholders = {
            "plan": prepared.Slot.uuid(1),
            "item": prepared.Slot.uuid(2),
            "after": prepared.Slot.positive(1),
            "upto": prepared.Slot.positive(2),
        }
        if last is not None:
            values["last"], placeholders["last"] = last, prepared.Slot.integer(1)

        def build(plan: object, item: object, after: int, upto: int, last: int = 0) -> Any:
            where = Q(plan_id=plan, id=item, plan_version__gt=after, plan_version__lte=upto)
            if last:
                where |= Q(history_id=last)
            rows = model.objects.filter(where).order_by("history_date", "history_id")
            return rows.values(*names)

        key = ("item_rows_since", model._meta.label, last is not None)
        rows = prepared.rows(key, build, placeholders, values)
        row = create_namedtuple_class(*names)  # `history_rows`'s (Django keeps the class)
        return [row(*(r[n] for n in names)) for r in rows]

    def continue_across(self, access: policy.PlanAccess, upto: int) -> bool:
        """Continue a kept replay (`_kept`) to `upto` across versions anyone may have written:
        as `continue_to`, when the rows it read are still there (the same last row: not a
        database restored to an earlier state) and no item it names has a row in between
        (which could change whether the reader may see that item, and so every projection
        naming it). False, with the replay no further, when it cannot be continued."""
        last = self.rows[-1]
        found = self._rows_since(access, upto, last=last.history_id)
        if not found or found[0] != last:
            return False
        for target, ids in self.known.items():
            others = ids - {self.item_id} if target == self.kind else ids
            if others and (
                history_model(kinds.get(target).model)
                .objects.filter(
                    self._since(upto), plan_id=access.plan.pk, id__in=sorted(others, key=str)
                )
                .exists()
            ):
                return False
        new = found[1:]
        if not new:
            self.upto = upto
            return True
        return self._take(access, new, upto)

    def _take(self, access: policy.PlanAccess, new: list[Any], upto: int) -> bool:
        """Feed the item's rows after `self.upto` (up to `upto`), unless the last of them
        changes whether the reader sees the item."""
        vis = self.replayer.vis
        if policy.may_read_item(access, new[-1]) != (self.item_id in vis.ids.get(self.kind, ())):
            return False
        named = _references(kinds.get(self.kind), new)
        for target, ids in named.items():
            ids -= self.known.get(target, set())
        _add_visible(access, vis, named, upto)
        for target, ids in named.items():
            self.known.setdefault(target, set()).update(ids)
        self.rows.extend(new)
        self.changes.extend(c for c in map(self.replayer.feed, new) if c is not None)
        self.upto = upto
        return True

    def fork(self, access: policy.PlanAccess | None) -> _ItemReplay:
        """A copy to continue for `access` (a reader of the same class) without changing this
        one: the rows and changes are shared, what a continuation adds to is not. A copy to
        keep holds no access (`_keep_after_commit`); it is forked again for its next reader."""
        old = self.replayer
        vis = Visibility(access, {k: set(v) for k, v in old.vis.ids.items()})  # type: ignore[arg-type]
        replayer = _Replayer(self.kind, vis)
        replayer.item_id, replayer.previous = old.item_id, old.previous
        replayer.previous_raw, replayer.number = old.previous_raw, old.number
        return _ItemReplay(
            self.plan_id,
            self.visibility,
            self.kind,
            self.item_id,
            self.upto,
            list(self.rows),
            list(self.changes),
            replayer,
            {k: set(v) for k, v in self.known.items()},
        )


def _references(declared: kinds.ItemKind, rows: list[Any]) -> dict[str, set[uuid.UUID]]:
    """Per kind, the item ids the rows' reference fields name."""
    named: dict[str, set[uuid.UUID]] = {}
    for name, target in declared.references.items():
        for row in rows:
            named.setdefault(target, set()).update(_named_ids(name, target, getattr(row, name)))
    return named


def _add_visible(
    access: policy.PlanAccess, vis: Visibility, named: dict[str, set[uuid.UUID]], upto: int
) -> None:
    """Add to `vis` the named items the reader may see, each decided by its latest row up to
    stored version `upto` (one query per kind that names any)."""
    for target, ids in sorted(named.items()):
        if not ids:
            continue
        latest = (
            history_model(kinds.get(target).model)
            .objects.filter(
                plan_id=access.plan.pk, id__in=sorted(ids, key=str), plan_version__lte=upto
            )
            .order_by("id", "-history_date", "-history_id")
            .distinct("id")
        )
        seen = {row.id for row in history_rows(latest) if policy.may_read_item(access, row)}
        vis.ids[target] = vis.ids.get(target, set()) | seen


def _item_replay(access: policy.PlanAccess, kind: str, item_id: Any, upto: int) -> _ItemReplay:
    """One item's historical rows up to stored version `upto` and the visible changes they
    make for the reader: the replay `_view` makes of them, without the rest of the plan.

    What the reader sees of an item depends only on its own rows and on which items the reader
    may see today of those its rows name (a link to a hidden item reads as null), each decided
    by that item's latest row, as `_view` decides it for every item of the plan.
    """
    declared = kinds.get(kind)
    rows = list(
        history_rows(
            history_model(declared.model)
            .objects.filter(plan_id=access.plan.pk, id=item_id, plan_version__lte=upto)
            .order_by("history_date", "history_id")
        )
    )
    vis = Visibility(access)
    vis.ids[kind] = {rows[-1].id} if rows and policy.may_read_item(access, rows[-1]) else set()
    named = _references(declared, rows)
    _add_visible(access, vis, named, upto)
    named.setdefault(kind, set()).add(item_id)
    replayer = _Replayer(kind, vis)
    changes = [c for c in map(replayer.feed, rows) if c is not None]
    return _ItemReplay(
        access.plan.pk, access.visibility, kind, item_id, upto, rows, changes, replayer, named
    )


def _named_ids(name: str, target: str, value: Any) -> set[uuid.UUID]:
    """The item ids a reference field's value names (`kinds.visible_value`'s two shapes: an
    `*_id` column, or a JSON list of entries naming the target by its kind's name)."""
    if value is None:
        return set()
    if name.endswith("_id"):
        return {value} if isinstance(value, uuid.UUID) else set()
    ids = set()
    for entry in value or []:
        named = _uuid(entry.get(target)) if isinstance(entry, dict) else None
        if isinstance(named, uuid.UUID) and str(named) == entry.get(target):
            ids.add(named)
    return ids


def item_version(access: policy.PlanAccess, kind: str, item_id: Any, default: int = 1) -> int:
    """`reader_view(access).item_version(kind, item_id, default)` from the item's own history
    (`_item_replay`) instead of the whole plan's: a write's If-Match check needs only this
    number (under the locks)."""
    plan = access.plan
    upto = max(plan.version, written_version(plan.pk))
    changes = _replayed(access, kind, _uuid(item_id), upto).changes
    return changes[-1].number if changes else default


_REPLAYED = "plan_item_replayed"


def _replayed(access: policy.PlanAccess, kind: str, item_id: uuid.UUID, upto: int) -> _ItemReplay:
    """`_item_replay`, or this request's last replay of the item for the class continued with
    the row its write added (`note_item_written`): a write's If-Match check replays the item
    under the lock, and its answer continues that replay instead of reading it all again.

    Kept on the connection, cleared with the written versions (`forget_written`): a request
    start and a commit end it.
    """
    last = getattr(connection, _REPLAYED, None)
    fresh = None
    if last is not None and (last.plan_id, last.visibility, last.kind, last.item_id) == (
        access.plan.pk,
        access.visibility,
        kind,
        item_id,
    ):
        continued = (
            last.upto == upto - 1
            and _item_written(access.plan, upto, kind, item_id)
            and last.continue_to(access, upto)
        )
        if last.upto == upto or continued:
            fresh = last
    if fresh is None:
        fresh = _kept(access, kind, item_id, upto) or _item_replay(access, kind, item_id, upto)
    # Kept only while it holds committed rows alone: a replay that read this transaction's own
    # write is not continued again (the answer is its last use).
    setattr(connection, _REPLAYED, fresh if written_version(access.plan.pk) < upto else None)
    _keep_after_commit(access, fresh)
    return fresh


#
# Item replays kept by this process between requests. A replay of an item up to a committed
# plan version is the same for every reader of the class (`_ItemReplay`): a later request
# takes it up (`_kept`) instead of reading and replaying the item's whole history again, which
# grows with every change of the item. Kept only once the transaction that made it has
# committed; each process keeps its own, the newest per item, at most `KEPT_REPLAYS` items,
# each in a few rows (`_keep_after_commit`).
#

KEPT_REPLAYS = 512
_KEPT: collections.OrderedDict[tuple[Any, ...], tuple[int, Any, _ItemReplay]] = (
    collections.OrderedDict()
)
_KEPT_LOCK = threading.Lock()


def _kept_key(access: policy.PlanAccess, kind: str, item_id: uuid.UUID) -> tuple[Any, ...]:
    return (access.plan.pk, access.visibility, kind, item_id)


def _kept(
    access: policy.PlanAccess, kind: str, item_id: uuid.UUID, upto: int
) -> _ItemReplay | None:
    """A kept replay of the item for the reader's class, at `upto`: as kept when it was made at
    this very plan version (the plan row's `updated_at` the same, so not a version a restored
    database made again), or continued to it (`_ItemReplay.continue_across`) when the plan's
    history still holds the version it was kept at. None otherwise."""
    key = _kept_key(access, kind, item_id)
    with _KEPT_LOCK:
        entry = _KEPT.get(key)
        if entry is not None:
            _KEPT.move_to_end(key)
    if entry is None:
        return None
    version, updated_at, replay = entry
    if version > upto:
        return None  # kept from a newer state than this transaction sees
    plan = access.plan
    if version == upto:
        if (plan.version, plan.updated_at) != (upto, updated_at):
            return None
        return replay.fork(access)
    # The version it was kept at must still be the one it was made from: a database restored
    # to an earlier point (or a replica promoted before it had every commit) can have lost it
    # and made it again from other writes, and what the lost versions wrote is not in between.
    if not prepared.rows(
        ("plan_version_kept",),
        lambda plan_id, at, made: (
            history_model(Plan)
            .objects.filter(id=plan_id, version=at, updated_at=made)
            .values("history_id")[:1]
        ),
        {
            "plan_id": prepared.Slot.uuid(1),
            "at": prepared.Slot.positive(1),
            "made": prepared.Slot.moment(1),
        },
        {"plan_id": plan.pk, "at": version, "made": updated_at},
    ):
        return None
    fresh = replay.fork(access)
    return fresh if fresh.continue_across(access, upto) else None


def _keep_after_commit(access: policy.PlanAccess, replay: _ItemReplay) -> None:
    """Keep a copy of `replay` once this transaction commits, when it ends at the plan
    version `access.plan` holds (a rolled-back transaction keeps nothing)."""
    plan = access.plan
    if not replay.rows or replay.upto != plan.version:
        return
    key, version, updated_at = (
        _kept_key(access, replay.kind, replay.item_id),
        replay.upto,
        plan.updated_at,
    )
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
    if kept is not None and kept[0] >= version:
        return
    copy = replay.fork(None)  # kept without this request's access (its plan, membership, ...)
    # What continuing it and an `ItemView` of it read: the last two rows (is the item new, did
    # its last write change whether the class sees it), the first change that shows the item
    # (created), the last (version, updated). Not the item's whole history.
    copy.rows = copy.rows[-2:]
    if copy.changes:
        first = next((c for c in copy.changes if c.present), copy.changes[0])
        last = copy.changes[-1]
        copy.changes = [first] if last is first else [first, last]

    def keep() -> None:
        with _KEPT_LOCK:
            kept = _KEPT.get(key)
            if kept is None or kept[0] < version:
                _KEPT[key] = (version, updated_at, copy)
            _KEPT.move_to_end(key)
            while len(_KEPT) > KEPT_REPLAYS:
                _KEPT.popitem(last=False)

    transaction.on_commit(keep)


def forget_kept_replays() -> None:
    """Drop every kept replay (tests; and what a restart does)."""
    with _KEPT_LOCK:
        _KEPT.clear()


@dataclass
class ItemView(_Numbers):
    """One reader's view of one item: what `ReaderView` answers about it (its version, plan
    version, created and updated), from the item's own history and the class's stored plan
    versions (`ReaderVersions`), without replaying the plan's history. Built by `item_view`."""

    access: policy.PlanAccess
    kind: str
    item_id: uuid.UUID
    changes: list[Change]
    versions: list[int]
    current: int
    _names: dict[Any, str] | None = None

    def item_changes(self, kind: str, item_id: Any) -> list[Change]:
        if (kind, _uuid(item_id)) != (self.kind, self.item_id):
            raise LookupError(f"an ItemView of {self.kind} {self.item_id} asked about {kind}")
        return self.changes

    def _authors(self) -> set[Any]:
        return {c.row.history_user_id for c in self.changes}


def item_view(access: policy.PlanAccess, kind: str, item_id: Any) -> _Numbers:
    """What the reader sees of one item's versions (`ItemView`), or the whole `ReaderView` when
    the class's plan versions are not known at this version (which it then stores).

    The class's stored state (`ClassState`) serves when it is at the plan's version; after this
    transaction's write of this one item (`note_item_written`) it is continued from the
    previous version when that write left the set of items the class sees unchanged (the item
    was and stays visible, or is new): the versions before it are then exactly what they were,
    and the write's version exists for the class when it is a visible change of the item.
    """
    plan = access.plan
    upto = max(plan.version, written_version(plan.pk))
    item_id = _uuid(item_id)
    declared = kinds.get(kind)
    if declared.signature:  # a signature's state needs the whole plan (`outdated`)
        return _remembered(reader_view(access))
    replay = _replayed(access, kind, item_id, upto)
    rows, changes = replay.rows, replay.changes
    stored = _stored_state(plan.pk, access.visibility)
    state: ClassState | None = None
    if stored is not None and stored.version == upto:
        state = stored
    elif (
        stored is not None
        and stored.version == upto - 1
        and _item_written(plan, upto, kind, item_id)
        and rows
        and rows[-1].plan_version == upto
        and (
            # New: no earlier row of any item can name it.
            rows[-1].history_type == "+"
            if len(rows) == 1
            else rows[-2].plan_version < upto
            and policy.may_read_item(access, rows[-2]) == policy.may_read_item(access, rows[-1])
        )
    ):
        state = stored.continued(upto, changes)
        _store_state(plan.pk, access.visibility, state)
    if state is None:
        return _remembered(reader_view(access))
    return ItemView(
        access=access,
        kind=kind,
        item_id=item_id,
        changes=changes,
        versions=state.versions,
        current=upto,
    )


@dataclass
class ClassState:
    """What one visibility class's view of a plan at stored version `version` holds besides
    its items (`ReaderVersions`): the stored versions that exist for the class, when the last
    of them was made, and for the signatures' states, per restriction of the rows concerned
    (`_mark_key`), the last version holding a change of such rows (`ReaderView.outdated`)."""

    version: int
    versions: list[int]
    updated_at: dt.datetime | None
    marks: dict[str, int]

    @classmethod
    def of(cls, view: ReaderView) -> ClassState:
        marks: dict[str, int] = {}
        for stored in view.versions:
            changes = view.by_version.get(stored)
            keys: set[str] = set()
            if not changes:
                if _plan_fields_changed(view.plan_rows, stored):
                    keys = {_mark_key(None)}
            else:
                # `outdated` also asks whether the signer sees the item's latest change: that
                # change's own version comes later and marks the same, so the maximum holds it.
                keys = {_mark_key(change.row) for change in changes}
            for key in keys:
                marks[key] = stored  # versions ascend: the last one wins
        return cls(view.current, list(view.versions), view.updated[0], marks)

    @classmethod
    def from_row(cls, version: int, row: Sequence[Any]) -> ClassState | None:
        """From the stored columns (versions, updated_at, marks) of `ReaderVersions`; None
        when the marks are not in this form (a row written by other code is not trusted: the
        caller replays the plan instead)."""
        versions, updated_at, marks = row
        marks = marks if isinstance(marks, dict) else json.loads(marks)
        if not isinstance(marks, dict) or not all(
            _is_mark_key(k) and isinstance(v, int) for k, v in marks.items()
        ):
            return None
        return cls(version, list(versions), updated_at, marks)

    def continued(self, upto: int, changes: list[Change]) -> ClassState:
        """The state at `upto`, one version on, when that version wrote only the item whose
        visible changes are `changes`: its version exists for the class when its row is a
        visible change, and then marks its row's restriction (the marks are maxima, and no
        earlier version's mark depends on what came after it: `of`)."""
        if not changes or changes[-1].row.plan_version != upto:
            return ClassState(upto, self.versions, self.updated_at, self.marks)
        row = changes[-1].row
        marks = {**self.marks, _mark_key(row): upto}
        return ClassState(upto, [*self.versions, upto], row.history_date, marks)

    def outdated(self, ack: Acknowledgement, signer_kind: str) -> bool:
        """`ReaderView.outdated` from the marks: a change of rows the signer sees (by the
        policy's audience rule, `_Signer.sees`) came after the signature."""
        last = max(
            (
                stored
                for key, stored in self.marks.items()
                if policy.sees_restricted(signer_kind, ack.person_id, _restriction(key))
            ),
            default=0,
        )
        return last > ack.acknowledged_version


def _mark_key(row: Any) -> str:
    """A row's restriction as a mark key: "none", or the restricting child's person id."""
    restricted_by = None if row is None else row.restricted_by_id
    return "none" if restricted_by is None else str(restricted_by)


def _is_mark_key(key: object) -> bool:
    if key == "none":
        return True
    try:
        return str(uuid.UUID(str(key))) == key
    except ValueError:
        return False


def _restriction(key: str) -> Any:
    """The restriction a mark key stands for (`_mark_key`)."""
    return None if key == "none" else uuid.UUID(key)


@dataclass
class StoredView:
    """The plan detail's questions (its version, when it last changed, the signatures' states)
    answered from the class's stored state instead of the whole `ReaderView`."""

    access: policy.PlanAccess
    state: ClassState

    @property
    def version(self) -> int:
        return max(len(self.state.versions), 1)

    @property
    def updated(self) -> tuple[dt.datetime | None, Any]:
        return self.state.updated_at, None

    def reader_version(self, stored: int) -> int:
        return reader_number(self.state.versions, stored)

    def outdated(self, ack: Acknowledgement, signer_kind: str) -> bool:
        return self.state.outdated(ack, signer_kind)


_STATE_LOOKUP = """
SELECT plan_version, versions, updated_at, marks FROM plans_readerversions
 WHERE plan_id = %(plan)s AND visibility = %(visibility)s
"""

# A store is a cache fill: it never waits. Writes store after their log append has taken its
# chain's lock and reads store before theirs, so a store that waited for another transaction's
# row could close a circle of waits with the chain locks. Every store first tries a lock of its
# own (plan, class) key, held to the end of the transaction, and stores nothing without it; so
# whoever holds the row holds that lock too, and the upsert never waits. (The key pair's first
# half is this table's name: the audit chains' locks use their own tables' names.)
_STATE_STORE = """
INSERT INTO plans_readerversions (plan_id, visibility, plan_version, versions, updated_at, marks)
SELECT %(plan)s::uuid, %(visibility)s::text, %(version)s::integer, %(versions)s::integer[],
       %(updated_at)s::timestamptz, %(marks)s::jsonb
 WHERE pg_try_advisory_xact_lock(hashtext('plans_readerversions'),
                                 hashtext(%(plan)s::text || %(visibility)s::text))
ON CONFLICT (plan_id, visibility) DO UPDATE
   SET plan_version = EXCLUDED.plan_version, versions = EXCLUDED.versions,
       updated_at = EXCLUDED.updated_at, marks = EXCLUDED.marks
 WHERE plans_readerversions.plan_version < EXCLUDED.plan_version
"""


def _stored_state(plan_id: Any, visibility_key: str) -> ClassState | None:
    with prepared.server_cursor() as cursor:  # prepared on the server: run on every write
        cursor.execute(_STATE_LOOKUP, {"plan": plan_id, "visibility": visibility_key})
        row = cursor.fetchone()
    return None if row is None else ClassState.from_row(row[0], row[1:])


def _store_state(plan_id: Any, visibility_key: str, state: ClassState) -> None:
    # The versions go as one array literal, bound on the server: psycopg adapts a list element
    # by element in Python (and a client-side cursor then quotes each one), which took 4 ms for
    # a plan of 6,000 versions against 1.6 ms this way; every write stores them.
    versions = "{" + ",".join(map(str, state.versions)) + "}"
    with prepared.server_cursor() as cursor:
        cursor.execute(
            _STATE_STORE,
            {
                "plan": plan_id,
                "visibility": visibility_key,
                "version": state.version,
                "versions": versions,
                "updated_at": state.updated_at,
                "marks": json.dumps(state.marks, sort_keys=True),
            },
        )


def remember(view: ReaderView) -> None:
    """Store the class's state from a whole view (`ReaderVersions`), for `item_view` and the
    plan detail (`document.render_detail`, which reads it with the read model).

    Only a view that ends at a plan version whose historical plan row it read: a version this
    transaction wrote and then rolled back to a savepoint has none, and is never stored.
    """
    if view.current in view.plan_rows:
        _store_state(view.access.plan.pk, view.access.visibility, ClassState.of(view))


def _remembered(view: ReaderView) -> ReaderView:
    remember(view)
    return view


def content_hash(view: ReaderView) -> str:
    """A hash of the plan's content as this reader sees it now (signatures are not content).

    Stored with a signature as the signer's evidence of what they signed; shown only to them.
    """
    last = view.plan_rows[max(view.plan_rows)] if view.plan_rows else view.access.plan
    parts: list[Any] = [str(view.access.plan.pk), *(plain(getattr(last, f)) for f in PLAN_FIELDS)]
    for (kind, item_id), changes in sorted(
        view.items.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
    ):
        if kinds.get(kind).signature or not changes[-1].present:
            continue
        parts.append([kind, str(item_id), project(kind, changes[-1].row, view.vis)])
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()
