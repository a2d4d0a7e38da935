"""The plan's content: one CarePlan per child, Goals, needs as Conditions, activities and notes.

* Needs become `Condition` (problem-list item) resources that goals and CarePlans address.
* Goals are `Goal` resources with a target (desired outcome, measured by how achievement is
  evidenced, due by the target date) and the achievement status.
* Actions are R4 `CarePlan.activity.detail` (R5 moved them; we do not mix).
* Comments, the child's and the guardians' views and dissents become `Annotation`s on the item
  they are about: Condition.note, Goal.note, the activity's progress, or CarePlan.note for the
  plan itself. An extension codes which kind each one is, so a dissent stays a dissent
  (Child Welfare Act §30). Review meetings, their per-goal progress and acknowledgements are
  annotations too.
* An item a mature minor hid from the guardians (THL code 3) carries that code as a
  `meta.security` label; a CarePlan holding any such activity or note carries it as well, since
  a label cannot be put on one activity.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from fhir_export import coding as c
from fhir_export.identifiers import derive, reference
from fhir_export.participants import People, Resource
from fhir_export.primitives import string, string_or
from fhir_export.snapshot import (
    ActionData,
    GoalData,
    ItemData,
    NeedData,
    PlanSnapshot,
    RemarkData,
    visible_id,
)

PLAN_STATUS = {"draft": "draft", "active": "active", "on_hold": "on-hold", "completed": "completed"}
GOAL_LIFECYCLE = {"draft": "proposed", "active": "active", "on_hold": "on-hold"}
RESTRICTED_LABEL = c.coding(c.MINOR_RESTRICTION_SYSTEM, "3")


def annotation(
    kind: str,
    text: str,
    time: Any,
    author: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Annotation whose kind (comment, dissent, ...) is coded in an extension."""
    c.coding(c.ANNOTATION_KIND_URL, kind)  # checks the kind
    note: dict[str, Any] = {
        "extension": [{"url": c.ANNOTATION_KIND_URL, "valueCode": kind}],
        "text": string_or(text, "-"),
    }
    if author:
        note.update(author)
    if time is not None:
        note["time"] = time.isoformat()
    return note


def _security(restricted: bool) -> dict[str, Any]:
    return {"meta": {"security": [RESTRICTED_LABEL]}} if restricted else {}


class _Notes:
    """Annotations by the item they are about, in the snapshot's order."""

    def __init__(self, snapshot: PlanSnapshot, who: People) -> None:
        self.by_target: dict[tuple[str, uuid.UUID | None], list[tuple[ItemData, dict]]] = (
            defaultdict(list)
        )
        self.who = who
        visible = {
            "plan": {None},
            "need": {n.id for n in snapshot.needs},
            "goal": {g.id for g in snapshot.goals},
            "action": {a.id for a in snapshot.actions},
            "review": {r.id for r in snapshot.reviews},
        }
        goal_ids = visible["goal"]
        for remark in snapshot.remarks:
            # A remark about something the recipient cannot see is left out entirely.
            target_id = remark.target_id if remark.target_type != "plan" else None
            if target_id not in visible.get(remark.target_type, set()):
                continue
            target_type = "plan" if remark.target_type == "review" else remark.target_type
            target_id = None if target_type == "plan" else target_id
            self.by_target[(target_type, target_id)].append((remark, self._remark(remark)))
        for review in snapshot.reviews:
            text = review.notes or ", ".join(review.participants)
            when = review.held_on
            note = annotation("review", text, when, self._author(review, None))
            self.by_target[("plan", None)].append((review, note))
            for progress in review.progress:
                if visible_id(progress.goal_id, goal_ids) is None:
                    continue
                text = " ".join(x for x in (progress.achievement, progress.note) if x)
                note = annotation("progress", text, when, self._author(review, None))
                self.by_target[("goal", progress.goal_id)].append((review, note))
        for ack in snapshot.acknowledgements:
            text = f"{ack.decision} v{ack.acknowledged_version}"
            if ack.comment:
                text = f"{text}: {ack.comment}"
            note = annotation("acknowledgement", text, ack.created_at, self._author(ack, None))
            self.by_target[("plan", None)].append((ack, note))
        for other in snapshot.other_items:  # declared kinds whose FHIR form is a plan note
            note = annotation(
                other.note_kind, other.text, other.created_at, self._author(other, None)
            )
            self.by_target[("plan", None)].append((other, note))

    def _author(self, item: ItemData, child_id: uuid.UUID | None) -> dict[str, Any]:
        return self.who.author(item.author_user_id, item.author_display, child_id)

    def _remark(self, remark: RemarkData) -> dict[str, Any]:
        child = remark.concerns[0] if remark.concerns else None
        return annotation(remark.kind, remark.text, remark.created_at, self._author(remark, child))

    def about(self, target_type: str, target_id: uuid.UUID | None) -> list[tuple[ItemData, dict]]:
        return self.by_target.get((target_type, target_id), [])


def _subject(item: ItemData, who: People) -> dict[str, Any]:
    """A Patient when the item concerns exactly one child, else the family Group."""
    children = [cid for cid in item.concerns if cid in who.patients]
    if len(children) == 1:
        return reference(who.patients[children[0]])
    return reference(who.group)


def _concerns_child(item: ItemData, child_id: uuid.UUID, who: People) -> bool:
    named = [cid for cid in item.concerns if cid in who.patients]
    return not named or child_id in named


def condition(need: NeedData, who: People, notes: _Notes, plan_status: str) -> Resource:
    """A need of the family or of named children, as a problem-list Condition."""
    clinical = "inactive" if plan_status == "completed" else "active"
    remarks = [n for _, n in notes.about("need", need.id)]
    if string(need.description):
        remarks.insert(0, annotation("description", need.description, None))
    resource: Resource = {
        "resourceType": "Condition",
        "id": derive("Condition", need.id),
        **_security(need.restricted),
        "identifier": [{"system": c.ITEM_SYSTEM, "value": str(need.id)}],
        "clinicalStatus": c.concept(c.CONDITION_CLINICAL, clinical),
        "category": [c.concept(c.CONDITION_CATEGORY, "problem-list-item")],
        "code": {"text": string_or(need.title, "-")},
        "subject": _subject(need, who),
        "recordedDate": need.created_at.isoformat(),
    }
    if remarks:
        resource["note"] = remarks
    return resource


def goal(
    item: GoalData, who: People, notes: _Notes, conditions: dict[uuid.UUID, Resource], status: str
) -> Resource:
    """A goal: desired outcome as its target, measured by how achievement is evidenced."""
    lifecycle = GOAL_LIFECYCLE.get(status, "completed")
    if status == "active" and item.achievement in ("achieved", "sustaining"):
        lifecycle = "completed"
    elif status == "active" and item.achievement == "not-attainable":
        lifecycle = "cancelled"
    target: dict[str, Any] = {}
    if string(item.desired_outcome):
        # gol-1: a target with a detail needs a measure: how achievement is evidenced.
        target["measure"] = {"text": string(item.evidence) or string_or(item.title, "-")}
        target["detailString"] = string(item.desired_outcome)
    if item.target_date is not None:
        target["dueDate"] = item.target_date.isoformat()
    resource: Resource = {
        "resourceType": "Goal",
        "id": derive("Goal", item.id),
        **_security(item.restricted),
        "identifier": [{"system": c.ITEM_SYSTEM, "value": str(item.id)}],
        "lifecycleStatus": c.code("Goal.lifecycleStatus", lifecycle),
        "achievementStatus": c.concept(c.GOAL_ACHIEVEMENT, item.achievement),
        "category": [c.concept(c.CATEGORY_SYSTEM, item.category)],
        "description": {"text": string_or(item.title, "-")},
        "subject": _subject(item, who),
        "statusDate": item.updated_at.date().isoformat(),
    }
    if target:
        resource["target"] = [target]
    if item.need_id in conditions:
        resource["addresses"] = [reference(conditions[item.need_id])]  # type: ignore[index]
    remarks = [n for _, n in notes.about("goal", item.id)]
    if remarks:
        resource["note"] = remarks
    return resource


def activity(
    action: ActionData,
    who: People,
    notes: _Notes,
    goals: dict[uuid.UUID, Resource],
    child_id: uuid.UUID,
) -> dict[str, Any]:
    """An action as R4 `CarePlan.activity.detail`, with its comments as progress notes."""
    detail: dict[str, Any] = {
        "code": c.concept(c.CATEGORY_SYSTEM, action.category),
        "status": c.code("CarePlan.activity.detail.status", action.status),
        "description": string_or(action.description, "-"),
        "performer": [who.performer(action.responsible_kind, action, child_id)],
    }
    goal_id = visible_id(action.goal_id, goals)
    if goal_id is not None:
        detail["goal"] = [reference(goals[goal_id])]
    if action.due_date is not None:
        detail["scheduledPeriod"] = {"end": action.due_date.isoformat()}
    result: dict[str, Any] = {"detail": detail}
    progress = [n for _, n in notes.about("action", action.id)]
    if progress:
        result["progress"] = progress
    return result


def content(snapshot: PlanSnapshot, who: People) -> tuple[list[Resource], list[Resource]]:
    """The CarePlans (one per child) and the Goals and Conditions they refer to."""
    notes = _Notes(snapshot, who)
    conditions = {n.id: condition(n, who, notes, snapshot.status) for n in snapshot.needs}
    goals = {g.id: goal(g, who, notes, conditions, snapshot.status) for g in snapshot.goals}
    plans = [
        care_plan(snapshot, who, notes, child_id, conditions, goals) for child_id in who.patients
    ]
    return plans, [*conditions.values(), *goals.values()]


def care_plan(
    snapshot: PlanSnapshot,
    who: People,
    notes: _Notes,
    child_id: uuid.UUID,
    conditions: dict[uuid.UUID, Resource],
    goals: dict[uuid.UUID, Resource],
) -> Resource:
    """The plan as it concerns one child (subject = that child's Patient)."""
    child = who.patients[child_id]
    needs = [n for n in snapshot.needs if _concerns_child(n, child_id, who)]
    aims = [g for g in snapshot.goals if _concerns_child(g, child_id, who)]
    actions = [a for a in snapshot.actions if _concerns_child(a, child_id, who)]
    plan_notes = notes.about("plan", None)
    restricted = any(a.restricted for a in actions) or any(i.restricted for i, _ in plan_notes)
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": derive("CarePlan", snapshot.plan_id, child_id),
        **_security(restricted),
        "identifier": [{"system": c.PLAN_SYSTEM, "value": str(snapshot.plan_id)}],
        "status": c.code("CarePlan.status", PLAN_STATUS[snapshot.status]),
        "intent": c.code("CarePlan.intent", "plan"),
        "subject": reference(child),
        "period": {"start": snapshot.period_start.isoformat()},
        "created": snapshot.created_at.isoformat(),
        "careTeam": [{"reference": f"urn:uuid:{derive('CareTeam', snapshot.plan_id)}"}],
        "supportingInfo": [reference(who.group)],
    }
    if snapshot.period_end is not None:
        resource["period"]["end"] = snapshot.period_end.isoformat()
    if string(snapshot.summary):
        resource["description"] = string(snapshot.summary)
    lead = next((m for m in snapshot.members if m.role == "lead" and m.ended_at is None), None)
    if lead is not None and lead.user_id in who.roles_by_user:
        resource["author"] = reference(who.roles_by_user[lead.user_id])
    if needs:
        resource["addresses"] = [reference(conditions[n.id]) for n in needs]
    if aims:
        resource["goal"] = [reference(goals[g.id]) for g in aims]
    if actions:
        resource["activity"] = [activity(a, who, notes, goals, child_id) for a in actions]
    if plan_notes:
        resource["note"] = [n for _, n in plan_notes]
    return resource
