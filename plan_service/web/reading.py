"""What the family's pages show, read through the same selectors and policy as the API.

Each builder takes the reader's `PlanAccess` (from `plans.selectors.plan_access_get`) and returns
plain data for a template; `log_shown` writes the access-log rows for what a page showed, the
same rows the API writes for the same data (a read of the plan, a search per kind of item).

Nothing here decides who may see what: the selectors filter through `plan_service.policy`, and
what a page offers to do (`may_hide`) is asked of the policy too.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.participants.models import MaturityAssessment, Person
from plan_service.plans import history, kinds, selectors
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
from plan_service.plans.visibility import reader_view

Act = AccessEvent.Action

#: Goal achievement codes on a 0-4 scale, for the progress chart (FHIR goal-achievement).
ACHIEVEMENT_LEVEL = {
    "worsening": 0,
    "not-achieved": 0,
    "not-attainable": 0,
    "no-progress": 1,
    "no-change": 1,
    "in-progress": 2,
    "improving": 3,
    "sustaining": 4,
    "achieved": 4,
}


#
# Logging what a page shows
#


#: An author with what the family may be shown instead of their name (web/_author.html).
AUTHOR = ("created_by", "created_by__professional__organization")


def _subjects_of(items: Iterable[PlanItem], family: list[uuid.UUID]) -> list[uuid.UUID]:
    """Whose data a list of items is: the children named, or the whole family (as the API)."""
    people: list[uuid.UUID] = []
    for item in items:
        if not item.concerns:
            return family
        people.extend(item.concerns)
    return people or family


def log_shown(
    request: HttpRequest,
    access: policy.PlanAccess,
    *,
    shown: dict[str, list[Any]] | None = None,
    action: str = Act.READ,
    object_type: str = "plan",
    subjects: list[uuid.UUID] | None = None,
    result_count: int | None = None,
) -> None:
    """Log a page: a read (or `action`) of `object_type`, and a search per kind of item shown.

    The rows match the API's for the same reads (`api.viewsets.log_plan_read` for the plan,
    the item lists' search rows for each kind), one row per person each concerns, with the
    page's path as the query so an auditor can tell a page from an API call. Two appends.
    """
    plan = access.plan
    family = family_subjects([plan.family_id]).get(plan.family_id, [])
    common = {
        "family_id": plan.family_id,
        "plan_id": plan.pk,
        "query": {"page": request.path},
    }
    entries: list[dict[str, Any]] = [
        {
            **common,
            "subjects": subjects or family,
            "object_type": object_type,
            "object_id": plan.pk,
            "object_version": plan.version,
            "result_count": result_count,
        }
    ]
    record_access_batch(actor=request.user, action=action, access=access, entries=entries)
    if shown:
        searches = []
        for kind, items in shown.items():
            item_rows = [i for i in items if isinstance(i, PlanItem)]
            searches.append(
                {
                    **common,
                    "subjects": _subjects_of(item_rows, family) if item_rows else family,
                    "object_type": kind,
                    "object_id": "",
                    "object_version": plan.version,
                    "result_count": len(items),
                }
            )
        record_access_batch(actor=request.user, action=Act.SEARCH, access=access, entries=searches)


#
# The plan page
#


@dataclass
class ItemView:
    """One item with what is said about it and what the reader may do to it."""

    kind: str
    item: Any
    comments: list[Any] = field(default_factory=list)
    dissents: list[Any] = field(default_factory=list)
    may_hide: bool = False
    hidden_by_me: bool = False
    children: list[ItemView] = field(default_factory=list)
    may_edit: bool = False  # the reader may change it (web/editing.py)


@dataclass
class Section:
    """The part of the plan about one child, or about the whole family (child is None)."""

    child: Any
    needs: list[ItemView] = field(default_factory=list)
    goals: list[ItemView] = field(default_factory=list)  # goals whose need is not shown here
    actions: list[ItemView] = field(default_factory=list)  # actions whose goal is not shown here

    @property
    def empty(self) -> bool:
        return not (self.needs or self.goals or self.actions)


def reader_fingerprint(access: policy.PlanAccess, items: dict[str, list[Any]]) -> str:
    """A token for the plan as this reader sees it: changes only when something they see does.

    The sign form carries it, so a signature is refused when the content the reader saw (the
    plan, its needs, goals, actions and reviews) has moved on; comments and signatures made
    meanwhile do not stop it. Two plans that differ only in what the reader may not see give
    the same token.
    """
    plan = access.plan
    parts: list[Any] = [str(plan.pk), plan.status, plan.summary, str(plan.period_start)]
    parts.append(str(plan.period_end))
    for kind in sorted(items):
        if kinds.get(kind).authored:
            continue  # what is signed is the plan's content, not the talk about it
        parts.append([kind, sorted([str(i.pk), i.version] for i in items[kind])])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _latest_assessment_code(person_id: object) -> int | None:
    return (
        MaturityAssessment.objects.filter(child_id=person_id)
        .order_by("-assessed_on", "-created_at")
        .values_list("code", flat=True)
        .first()
    )


def plan_page(access: policy.PlanAccess) -> dict[str, Any]:
    """Everything the plan page shows, each list read through `plans.selectors`."""
    plan = access.plan
    needs = list(selectors.item_list(access=access, model=Need))
    goals = list(selectors.item_list(access=access, model=Goal))
    actions = list(
        selectors.item_list(access=access, model=Action).select_related(
            "responsible_user__professional__organization",
            "responsible_person",
            "responsible_organization",
        )
    )
    reviews = list(selectors.item_list(access=access, model=Review))
    comments = list(selectors.item_list(access=access, model=Comment).select_related(*AUTHOR))
    dissents = list(selectors.item_list(access=access, model=Dissent).select_related(*AUTHOR))
    acks = list(selectors.item_list(access=access, model=Acknowledgement).select_related("person"))
    members = list(selectors.membership_list(access=access))
    in_force = set(
        selectors.membership_list(access=access)
        .filter(policy.current_membership_q())
        .values_list("pk", flat=True)
    )
    for m in members:
        m.in_force = m.pk in in_force
    people = list(
        policy.persons_for(access.membership.user)
        .filter(family_id=plan.family_id)
        .order_by("kind", "given_name", "id")
    )
    children = [p for p in people if p.kind == Person.Kind.CHILD]
    names = {p.pk: f"{p.given_name} {p.family_name}" for p in people}

    said: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for c in comments:
        said.setdefault((c.target_type, str(c.target_id)), {"c": [], "d": []})["c"].append(c)
    for d in dissents:
        said.setdefault((d.target_type, str(d.target_id)), {"c": [], "d": []})["d"].append(d)

    child_may_hide = (
        policy.is_child(access)
        and _latest_assessment_code(access.person_id) == MaturityAssessment.Code.CAPABLE_FORBIDS
    )

    def view(kind: str, item: Any) -> ItemView:
        words = said.get((kind, str(item.pk)), {"c": [], "d": []})
        mine = access.person_id is not None and item.restricted_by_id == access.person_id
        may_hide = child_may_hide and policy.may_child_restrict(
            access, item, None if mine else access.person_id
        )
        return ItemView(
            kind,
            item,
            words["c"],
            words["d"],
            may_hide,
            mine,
            may_edit=policy.may_change_item(access, item),
        )

    sections = []
    for child in [*children, None]:

        def about(item: PlanItem, child: Any = child) -> bool:
            if child is None:
                return not item.concerns
            return child.pk in item.concerns

        s_needs = [view("need", n) for n in needs if about(n)]
        s_goals = [view("goal", g) for g in goals if about(g)]
        s_actions = [view("action", a) for a in actions if about(a)]
        need_ids = {v.item.pk for v in s_needs}
        goal_ids = {v.item.pk for v in s_goals}
        for gv in s_goals:
            gv.children = [av for av in s_actions if av.item.goal_id == gv.item.pk]
        for nv in s_needs:
            nv.children = [gv for gv in s_goals if gv.item.need_id == nv.item.pk]
        section = Section(
            child=child,
            needs=s_needs,
            goals=[gv for gv in s_goals if gv.item.need_id not in need_ids],
            actions=[av for av in s_actions if av.item.goal_id not in goal_ids],
        )
        sections.append(section)

    goal_titles = {str(g.pk): g.title for g in goals}
    review_views = []
    for r in reviews:
        progress = [
            {**p, "goal_title": goal_titles[str(p.get("goal"))]}
            for p in (r.progress or [])
            if str(p.get("goal")) in goal_titles
        ]
        review_views.append({"view": view("review", r), "progress": progress})
    charts = progress_charts(goals, reviews)

    # One's own signatures: while acting for a child, those made in that child's name.
    mine = policy.acted_for(access)
    my_acks = [
        a for a in acks if a.person_id == access.person_id and list(a.concerns or ()) == mine
    ]
    last_ack = my_acks[-1] if my_acks else None
    changes = changes_since(access, last_ack) if last_ack else None

    items = {
        "need": needs,
        "goal": goals,
        "action": actions,
        "review": reviews,
        "comment": comments,
        "dissent": dissents,
        "acknowledgement": acks,
    }
    return {
        "plan": plan,
        "access": access,
        "sections": [s for s in sections if not s.empty or s.child is not None],
        "children": children,
        "names": names,
        "reviews": review_views,
        "charts": charts,
        "plan_comments": said.get(("plan", "None"), {"c": [], "d": []}),
        "members": [m for m in members if m.role != "family"],
        "family_members": [m for m in members if m.role == "family"],
        "acks": acks,
        "last_ack": last_ack,
        "changes": changes,
        "fingerprint": reader_fingerprint(access, items),
        "child_may_hide": child_may_hide,
        "may_contribute": access.may(policy.Action.CONTRIBUTE),
        "may_add": {
            kind: policy.may_add_item(access, model)
            for kind, model in (
                ("need", Need),
                ("goal", Goal),
                ("action", Action),
                ("review", Review),
            )
        },
        "may_sign": policy.may_acknowledge(access),
        "is_family": policy.is_family(access),
        "acting_for": access.acting_for,
        "items": items,
        "shown": {
            "need": needs,
            "goal": goals,
            "action": actions,
            "review": reviews,
            "comment": comments,
            "dissent": dissents,
            "acknowledgement": acks,
            "membership": members,
        },
    }


def changes_since(access: policy.PlanAccess, ack: Acknowledgement) -> list[dict[str, Any]]:
    """What the reader can see changed since their last signature (added, changed, removed)."""
    # Versions as the reader sees them (plans/visibility.py); a signature keeps the stored one.
    view = reader_view(access)
    signed = view.reader_version(ack.acknowledged_version)
    if signed >= view.version:
        return []
    diff = history.plan_diff(access=access, from_version=str(signed), to_version=str(view.version))
    rows: list[dict[str, Any]] = []
    for change in ("added", "removed"):
        for entry in diff[change]:
            if entry["type"] == "acknowledgement":
                continue
            rows.append({"change": change, "type": entry["type"], "label": _label(entry)})
    for entry in diff["changed"]:
        if entry["type"] == "acknowledgement":
            continue
        new = {k: v["to"] for k, v in entry["fields"].items()}
        rows.append(
            {
                "change": "changed",
                "type": entry["type"],
                "label": _label(new) or "",
                "fields": sorted(entry["fields"]),
            }
        )
    return rows


def _label(data: dict[str, Any]) -> str:
    for name in ("title", "description", "text", "notes", "held_on"):
        if data.get(name):
            text = str(data[name])
            return text if len(text) <= 80 else text[:79] + "…"
    return ""


#
# Progress over reviews, as a small server-rendered SVG
#

CHART_W, CHART_H, PAD = 320, 120, 24


def progress_charts(goals: list[Goal], reviews: list[Review]) -> list[dict[str, Any]]:
    """Per visible goal with recorded progress: points (date, level) laid out for an SVG."""
    visible = {str(g.pk): g for g in goals}
    series: dict[str, list[tuple[Any, str]]] = {}
    for review in sorted(reviews, key=lambda r: (r.held_on, str(r.pk))):
        for entry in review.progress or []:
            goal_id = str(entry.get("goal"))
            code = entry.get("achievement")
            if goal_id in visible and code in ACHIEVEMENT_LEVEL:
                series.setdefault(goal_id, []).append((review.held_on, code))
    charts = []
    for goal in goals:
        points = series.get(str(goal.pk))
        if not points:
            continue
        n = len(points)
        step = (CHART_W - 2 * PAD) / max(n - 1, 1)
        laid = []
        for index, (held_on, code) in enumerate(points):
            x = PAD + (step * index if n > 1 else (CHART_W - 2 * PAD) / 2)
            y = CHART_H - PAD - ACHIEVEMENT_LEVEL[code] * (CHART_H - 2 * PAD) / 4
            laid.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "date": held_on,
                    "code": code,
                    "label": Goal.Achievement(code).label,
                }
            )
        charts.append(
            {
                "goal": goal,
                "points": laid,
                "polyline": " ".join(f"{p['x']},{p['y']}" for p in laid),
                "width": CHART_W,
                "height": CHART_H,
                "top": PAD,
                "bottom": CHART_H - PAD,
                "left": PAD,
                "right": CHART_W - PAD,
            }
        )
    return charts
