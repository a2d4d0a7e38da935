"""One declaration per kind of plan item, and the registry every consumer reads.

A kind (need, goal, action, ...) is declared here once: its model, the fields shown and kept in
history, which fields refer to other items (and of which kind), whether it is someone's own
words (authored: written through CONTRIBUTE, changed only by its author), its URL segment,
serializers and view-set extras, and how it enters the FHIR snapshot. `ITEM_MODELS`
(plans/models.py), the history views (plans/visibility.py, plans/history.py), the item view sets
and their routes (plans/api/views.py, routes.py), the export snapshot (plans/export.py), the
item counts and `policy.require_item` all read the registry, so adding a kind is: the model and
its migration (with an index on its history table's `(id, plan_version)`, as migration plans
0008 gives the others: tests/plans/test_history_indexes.py), its declaration
(`register(ItemKind(...))`), and its FHIR builder (the `snapshot` hook, plus fhir_export when
the kind needs a resource of its own).

"Show a related id only if the reader may see it" is `visible_id` (defined beside the snapshot
in fhir_export, which cannot import the service, and re-exported here), and `visible_entries` for
a JSON list of entries naming items; the serializers, the history projection, the export
snapshot and the FHIR builders all call it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhir_export import snapshot as snap
from fhir_export.snapshot import visible_id
from plan_service.plans.models import (
    Acknowledgement,
    Action,
    Comment,
    Dissent,
    Goal,
    Need,
    PlanItem,
    Review,
)

if TYPE_CHECKING:
    from rest_framework import serializers

#: Visible item ids by kind name, as the consumer decided them for one reader.
Visible = Mapping[str, Collection[Any]]


#
# Related ids: shown only when visible
#


__all__ = ["ItemKind", "register", "registered", "visible_entries", "visible_id"]


def visible_entries(
    entries: list[dict[str, Any]] | None, key: str, ids: Collection[Any]
) -> list[dict[str, Any]]:
    """The entries of a JSON list whose `key` names an item the reader may see (ids compared
    as strings, as JSON holds them); the others are dropped whole."""
    shown = {str(i) for i in ids}
    return [e for e in entries or [] if e.get(key) in shown]


def visible_value(kind: ItemKind, name: str, value: Any, visible: Visible) -> Any:
    """A field's value as the reader may see it: references filtered, other fields as they are."""
    target = kind.references.get(name)
    if target is None:
        return value
    ids = visible.get(target, ())
    if name.endswith("_id"):
        return visible_id(value, ids)
    return visible_entries(value, target, ids)


#
# The declaration
#


def snapshot_common(item: PlanItem) -> dict[str, Any]:
    """The `fhir_export.snapshot.ItemData` fields every item kind shares."""
    user = item.created_by
    display = "" if user is None else (user.get_full_name() or user.get_username())
    return {
        "id": item.pk,
        "version": item.version,
        "category": item.category,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "concerns": tuple(item.concerns or ()),
        "restricted": item.restricted_by_id is not None,
        "author_user_id": item.created_by_id,
        "author_display": display,
    }


#: Builds one item's snapshot data from its row and the ids of every kind the snapshot holds.
SnapshotBuilder = Callable[[Any, Visible], snap.ItemData]


@dataclass(frozen=True)
class ItemKind:
    """Everything the service needs to know about one kind of plan item.

    `fields` are the kind's own fields (besides `category` and `concerns`), as the history keeps
    and shows them; a foreign key is named by its attribute (`need_id`). `references` maps a
    field to the kind of item it names: an id field is shown only when that item is visible,
    a JSON list field keeps only the entries whose `<kind>` key is visible.
    """

    name: str  # the model name: target_type, history and count key, audit object type
    model: type[PlanItem]
    fields: tuple[str, ...]
    route: str  # URL segment under plans/{id}/ (plural); router basename is plan-<route>
    references: Mapping[str, str] = field(default_factory=dict)
    #: Someone's own words: added through CONTRIBUTE, changed or removed only by their author.
    authored: bool = False
    #: A signature about a version: never makes a plan version of its own.
    signature: bool = False
    #: Dotted paths of hand-written serializers; empty: generated from `fields`/`references`.
    output_serializer: str = ""
    input_serializer: str = ""
    #: Dotted path of a hand-written view set; empty: generated (plans/api/views.py).
    viewset: str = ""
    #: Whether the generated view set offers restore/ and restrict/.
    versioned_actions: bool = True
    filterset_fields: tuple[str, ...] = ("category",)
    filterset_class: str = ""  # dotted path; wins over filterset_fields
    #: FHIR hook: the PlanSnapshot field the kind fills, and how one row becomes its data.
    snapshot_field: str = ""
    snapshot: SnapshotBuilder | None = None
    #: Output serializer options a generated serializer passes on (e.g. extra read fields).
    serializer_extras: Mapping[str, Any] = field(default_factory=dict)

    def output_serializer_class(self) -> type[serializers.Serializer]:
        from plan_service.plans.api import serializers as s

        return s.output_serializer_for(self)

    def input_serializer_class(self) -> type[serializers.Serializer]:
        from plan_service.plans.api import serializers as s

        return s.input_serializer_for(self)


#
# The registry
#

_REGISTRY: dict[str, ItemKind] = {}


def register(kind: ItemKind) -> ItemKind:
    """Declare a kind (import time); a second declaration of a name is a programming error."""
    if kind.name in _REGISTRY and _REGISTRY[kind.name] is not kind:
        raise ValueError(f"item kind {kind.name!r} is declared twice")
    _REGISTRY[kind.name] = kind
    return kind


@contextlib.contextmanager
def registered(kind: ItemKind) -> Iterator[ItemKind]:
    """Declare a kind for the duration of a block (tests add a throwaway kind this way)."""
    register(kind)
    try:
        yield kind
    finally:
        _REGISTRY.pop(kind.name, None)


def all_kinds() -> tuple[ItemKind, ...]:
    """Every declared kind, in the order the plan shows them."""
    return tuple(_REGISTRY.values())


def get(name: str) -> ItemKind:
    """The declaration of a kind by name (KeyError if none)."""
    return _REGISTRY[name]


def of(model_or_item: type[PlanItem] | PlanItem) -> ItemKind:
    """The declaration of a model (or of an item's model)."""
    return _REGISTRY[model_or_item._meta.model_name]


#
# The built-in kinds
#


def _need(n: Need, visible: Visible) -> snap.NeedData:
    return snap.NeedData(**snapshot_common(n), title=n.title, description=n.description)


def _goal(g: Goal, visible: Visible) -> snap.GoalData:
    return snap.GoalData(
        **snapshot_common(g),
        title=g.title,
        desired_outcome=g.desired_outcome,
        evidence=g.evidence,
        target_date=g.target_date,
        achievement=g.achievement,
        need_id=visible_id(g.need_id, visible.get("need", ())),
    )


def _action(a: Action, visible: Visible) -> snap.ActionData:
    return snap.ActionData(
        **snapshot_common(a),
        description=a.description,
        responsible_kind=a.responsible_kind,
        responsible_user_id=a.responsible_user_id,
        responsible_person_id=a.responsible_person_id,
        responsible_organization_id=a.responsible_organization_id,
        due_date=a.due_date,
        status=a.status,
        goal_id=visible_id(a.goal_id, visible.get("goal", ())),
    )


def _review(review: Review, visible: Visible) -> snap.ReviewData:
    goal_ids = visible.get("goal", ())
    progress = []
    for entry in review.progress or []:
        try:
            goal_id = uuid.UUID(str(entry.get("goal")))
        except (ValueError, AttributeError):
            continue
        if visible_id(goal_id, goal_ids) is not None:  # progress on a hidden goal is dropped
            progress.append(
                snap.ProgressData(
                    goal_id=goal_id,
                    note=str(entry.get("note", "")),
                    achievement=str(entry.get("achievement", "")),
                )
            )
    return snap.ReviewData(
        **snapshot_common(review),
        held_on=review.held_on,
        participants=tuple(review.participants or ()),
        notes=review.notes,
        progress=tuple(progress),
        next_review_on=review.next_review_on,
    )


def _remark(r: Comment | Dissent, visible: Visible) -> snap.RemarkData:
    # The target is checked against what the recipient holds in fhir_export (careplan._Notes).
    return snap.RemarkData(
        **snapshot_common(r),
        kind=getattr(r, "kind", "dissent"),
        target_type=r.target_type,
        target_id=r.target_id,
        text=r.text,
    )


def _acknowledgement(a: Acknowledgement, visible: Visible) -> snap.AcknowledgementData:
    return snap.AcknowledgementData(
        **snapshot_common(a),
        person_id=a.person_id,
        acknowledged_version=a.acknowledged_version,
        decision=a.decision,
        comment=a.comment,
    )


_S = "plan_service.plans.api.serializers."
_F = "plan_service.plans.api.filters."

NEED = register(
    ItemKind(
        name="need",
        model=Need,
        fields=("title", "description"),
        route="needs",
        output_serializer=_S + "NeedOutputSerializer",
        input_serializer=_S + "NeedInputSerializer",
        snapshot_field="needs",
        snapshot=_need,
    )
)
GOAL = register(
    ItemKind(
        name="goal",
        model=Goal,
        fields=("need_id", "title", "desired_outcome", "evidence", "target_date", "achievement"),
        route="goals",
        references={"need_id": "need"},
        output_serializer=_S + "GoalOutputSerializer",
        input_serializer=_S + "GoalInputSerializer",
        filterset_class=_F + "GoalFilter",
        snapshot_field="goals",
        snapshot=_goal,
    )
)
ACTION = register(
    ItemKind(
        name="action",
        model=Action,
        fields=(
            "goal_id",
            "description",
            "responsible_kind",
            "responsible_user_id",
            "responsible_person_id",
            "responsible_organization_id",
            "due_date",
            "status",
        ),
        route="actions",
        references={"goal_id": "goal"},
        output_serializer=_S + "ActionOutputSerializer",
        input_serializer=_S + "ActionInputSerializer",
        filterset_class=_F + "ActionFilter",
        snapshot_field="actions",
        snapshot=_action,
    )
)
REVIEW = register(
    ItemKind(
        name="review",
        model=Review,
        fields=("held_on", "participants", "notes", "progress", "next_review_on"),
        route="reviews",
        references={"progress": "goal"},
        output_serializer=_S + "ReviewOutputSerializer",
        input_serializer=_S + "ReviewInputSerializer",
        snapshot_field="reviews",
        snapshot=_review,
    )
)
COMMENT = register(
    ItemKind(
        name="comment",
        model=Comment,
        fields=("kind", "target_type", "target_id", "text"),
        route="comments",
        authored=True,
        output_serializer=_S + "CommentOutputSerializer",
        input_serializer=_S + "CommentInputSerializer",
        versioned_actions=False,
        filterset_fields=("category", "kind", "target_type", "target_id"),
        snapshot_field="remarks",
        snapshot=_remark,
    )
)
DISSENT = register(
    ItemKind(
        name="dissent",
        model=Dissent,
        fields=("target_type", "target_id", "text"),
        route="dissents",
        authored=True,
        output_serializer=_S + "DissentOutputSerializer",
        input_serializer=_S + "DissentInputSerializer",
        versioned_actions=False,
        filterset_fields=("category", "target_type", "target_id"),
        snapshot_field="remarks",
        snapshot=_remark,
    )
)
ACKNOWLEDGEMENT = register(
    ItemKind(
        name="acknowledgement",
        model=Acknowledgement,
        fields=("person_id", "acknowledged_version", "content_hash", "decision", "comment"),
        route="acknowledgements",
        authored=True,
        signature=True,
        output_serializer=_S + "AcknowledgementOutputSerializer",
        input_serializer=_S + "AcknowledgementInputSerializer",
        viewset="plan_service.plans.api.views.AcknowledgementViewSet",
        versioned_actions=False,
        filterset_fields=(),
        snapshot_field="acknowledgements",
        snapshot=_acknowledgement,
    )
)
