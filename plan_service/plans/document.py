"""The whole plan as one reader may see it, and the read model that makes reading it cheap.

A document is the plan, per-child sections (needs -> goals -> actions, with each goal's progress
from the reviews), the reviews, comments, views, dissents, acknowledgements and the team. What a
reader sees depends only on the plan's rows and on the reader's *visibility*
(`policy.PlanAccess.visibility`: the categories read and the restriction audience, the very
answer `policy.items_for` applies), so one rendering serves every reader of the same class.

Renderings live in PostgreSQL (`PlanDocument`, one row per plan and class), shared by all
workers and kept across restarts. A rendering is served only when its plan version, its
generation and its epoch are all current:

* the plan version moves with every change of the plan or its items (services);
* the generation is advanced by triggers on every row a document shows (items, team,
  acknowledgements, the family's people; migration plans 0002), so even writes that leave the
  version alone (an acknowledgement, a family member's account linked) are seen;
* the epoch is advanced by triggers when names every plan may show change (users,
  professionals, organisations).

Who may read, and which class they are in, is decided on every request from the rows in force
at that moment (`policy.plan_access_for`): a consent withdrawn or past its end, a membership
ended or expired, a restriction set, all take effect on the next request, because they change
the access (or refuse it) before the read model is consulted. The stamp is read before any
content, so a rendering can be newer than its key but never older.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from plan_service import policy, prepared
from plan_service.participants.models import Person
from plan_service.plans import kinds, selectors
from plan_service.plans.api import serializers as s
from plan_service.plans.models import Comment, PlanDocument
from plan_service.plans.visibility import ClassState, StoredView, reader_view, remember

_LOOKUP = """
SELECT coalesce(st.generation, 0), coalesce(ep.epoch, 0), doc.body,
       rv.versions, rv.updated_at, rv.marks
  FROM (SELECT 1) one
  LEFT JOIN plans_documentstamp st ON st.plan_id = %(plan)s
  LEFT JOIN plans_documentepoch ep ON ep.id = 1
  LEFT JOIN plans_plandocument doc
         ON doc.plan_id = %(plan)s AND doc.visibility = %(visibility)s AND doc.part = %(part)s
        AND doc.plan_version = %(version)s
        AND doc.generation = coalesce(st.generation, 0)
        AND doc.epoch = coalesce(ep.epoch, 0)
  LEFT JOIN plans_readerversions rv
         ON rv.plan_id = %(plan)s AND rv.visibility = %(visibility)s
        AND rv.plan_version = %(version)s
"""

_STORE = """
INSERT INTO plans_plandocument
       (plan_id, visibility, part, plan_version, generation, epoch, body, rendered_at)
VALUES (%(plan)s, %(visibility)s, %(part)s, %(version)s, %(generation)s, %(epoch)s, %(body)s,
        now())
ON CONFLICT (plan_id, visibility, part) DO UPDATE
   SET plan_version = EXCLUDED.plan_version, generation = EXCLUDED.generation,
       epoch = EXCLUDED.epoch, body = EXCLUDED.body, rendered_at = EXCLUDED.rendered_at
 WHERE (plans_plandocument.plan_version, plans_plandocument.generation,
        plans_plandocument.epoch)
    <= (EXCLUDED.plan_version, EXCLUDED.generation, EXCLUDED.epoch)
"""


def plan_document(access: policy.PlanAccess) -> str:
    """The plan's document for this access's visibility class, as JSON text (no permissions).

    One statement when a current rendering exists; otherwise the document is rendered from the
    rows (a constant number of statements) and stored for the next reader of the class.
    """
    # Every item's versions need the whole view: the class's stored state is of no use here.
    return _stored(access, PlanDocument.Part.DOCUMENT, lambda a, _state: render(a))


def plan_detail(access: policy.PlanAccess) -> str:
    """The plan detail (`GET /plans/{id}/`: the plan, its version and time as this class sees
    them, the item counts and the signatures' states) for this access's visibility class, as
    JSON text without the reader's permissions; kept like the document."""
    return _stored(access, PlanDocument.Part.DETAIL, render_detail)


def _stored(
    access: policy.PlanAccess,
    part: str,
    render_part: Callable[[policy.PlanAccess, ClassState | None], dict],
) -> str:
    key = {
        "plan": access.plan.pk,
        "visibility": access.visibility,
        "part": part,
        "version": access.plan.version,
    }
    with prepared.server_cursor() as cursor:  # prepared on the server: run on every read
        cursor.execute(_LOOKUP, key)
        generation, epoch, body, *kept = cursor.fetchone()
    if body is not None:
        return str(body)
    # The class's stored state at this version, read in the same statement (a miss after a
    # write of one item finds it: visibility.item_view continued it).
    state = ClassState.from_row(access.plan.version, kept) if kept[0] is not None else None
    body = json.dumps(render_part(access, state), cls=DjangoJSONEncoder, ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute(_STORE, {**key, "generation": generation, "epoch": epoch, "body": body})
    return body


def detail(access: policy.PlanAccess, state: ClassState | None = None) -> dict[str, Any]:
    """The plan detail, `PlanDetailSerializer` with the reader view, counts and signatures it
    shows: rendered fresh by the writes' answers, and (without permissions) stored below.

    With the class's `state` at the access's plan version, its version, time and signatures'
    states come from that (`visibility.StoredView`) instead of a replay of the plan's history.
    """
    view: Any
    if state is not None and state.version == access.plan.version:
        view = StoredView(access, state)
    else:
        view = reader_view(access)
        remember(view)  # the class's state, for the next write's answer (item_view)
    context = {
        "access": access,
        "view": view,
        "counts": selectors.item_counts(access=access),
        "acknowledgements": selectors.acknowledgement_summary(access=access, view=view),
    }
    return dict(s.PlanDetailSerializer(access.plan, context=context).data)


def render_detail(access: policy.PlanAccess, state: ClassState | None = None) -> dict[str, Any]:
    """The plan detail without the reader's permissions, with its version first
    (`reader_version`)."""
    data = detail(access, state)
    del data["permissions"]  # the reader's own (`with_permissions`), never stored
    return {"version": data.pop("version"), **data}


_VERSION = re.compile(r'^\{"version":\s*(\d+)')


def reader_version(body: str) -> int:
    """The version a stored document carries for its readers (its first member)."""
    match = _VERSION.match(body)
    if match is None:  # pragma: no cover - every rendering starts with its version
        raise ValueError("a plan document without its version")
    return int(match.group(1))


def with_permissions(body: str, access: policy.PlanAccess) -> str:
    """The stored document with the reader's own rights in front (never stored)."""
    flags = json.dumps(access.as_flags(), ensure_ascii=False)
    return '{"permissions":' + flags + "," + body[1:]


def render(access: policy.PlanAccess) -> dict[str, Any]:
    """Build the document from the rows this access may read (a fixed number of statements)."""
    plan = access.plan
    # Every declared kind (plans/kinds.py), one statement each, in the order the plan shows them.
    items = {
        kind.name: list(
            selectors.item_list(access=access, model=kind.model).select_related(*_USERS)
        )
        for kind in kinds.all_kinds()
    }
    # Versions, times and signature states as this visibility class sees them (issue 11): the
    # same for every reader of the class, so the rendering can be shared.
    view = reader_view(access)
    remember(view)
    context = {
        "visible": {name: {i.pk for i in rows} for name, rows in items.items()},
        "plan_version": plan.version,
        "view": view,
        "signers": selectors.signer_kinds(view=view),
    }
    rows_by_kind = {
        kind.name: [
            dict(r)
            for r in kind.output_serializer_class()(
                items[kind.name], many=True, context=context
            ).data
        ]
        for kind in kinds.all_kinds()
    }
    need_rows, goal_rows = rows_by_kind["need"], rows_by_kind["goal"]
    action_rows, review_rows = rows_by_kind["action"], rows_by_kind["review"]
    comment_rows, dissent_rows = rows_by_kind["comment"], rows_by_kind["dissent"]
    # A signature's content hash is its signer's own (the list endpoint shows it to them); a
    # shared rendering shows it to nobody.
    ack_rows = [{**row, "content_hash": None} for row in rows_by_kind["acknowledgement"]]
    team = list(
        s.MembershipOutputSerializer(
            selectors.membership_list(access=access), many=True, context={"access": access}
        ).data
    )
    children = list(
        Person.objects.filter(family_id=plan.family_id, kind=Person.Kind.CHILD)
        .order_by("created_at", "id")
        .values("id", "given_name", "family_name")
    )

    goals_by_id: dict[str, dict] = {}
    for row in goal_rows:
        row["actions"], row["progress"] = [], []
        goals_by_id[str(row["id"])] = row
    needs_by_id: dict[str, dict] = {}
    for row in need_rows:
        row["goals"] = []
        needs_by_id[str(row["id"])] = row
    loose_actions = []
    for row in action_rows:
        parent = goals_by_id.get(str(row["goal"])) if row["goal"] else None
        (parent["actions"] if parent else loose_actions).append(row)
    for review in review_rows:
        for entry in review["progress"]:  # already only the goals this reader sees
            goal = goals_by_id.get(str(entry.get("goal")))
            if goal is not None:
                goal["progress"].append(
                    {
                        "review": review["id"],
                        "held_on": review["held_on"],
                        "note": entry.get("note", ""),
                        "achievement": entry.get("achievement"),
                    }
                )
    loose_goals = []
    for row in goal_rows:
        parent = needs_by_id.get(str(row["need"])) if row["need"] else None
        (parent["goals"] if parent else loose_goals).append(row)

    child_ids = [str(c["id"]) for c in children]
    sections = [
        {"child": {**c, "id": str(c["id"])}, "needs": [], "goals": [], "actions": []}
        for c in children
    ]
    family = {"child": None, "needs": [], "goals": [], "actions": []}
    index = dict(zip(child_ids, sections, strict=True))

    def place(kind: str, row: dict) -> None:
        targets = [index[c] for c in (str(c) for c in row["concerns"]) if c in index]
        for section in targets or [family]:
            section[kind].append(row)

    for row in need_rows:
        place("needs", row)
    for row in loose_goals:
        place("goals", row)
    for row in loose_actions:
        place("actions", row)

    others = {name: rows for name, rows in rows_by_kind.items() if name not in _PLACED}
    latest: dict[str, dict] = {}
    for ack in ack_rows:  # oldest first: the last one per person is the latest
        latest[str(ack["person"])] = ack
    return {
        # First key: the version as this class of readers sees it (the ETag; `reader_version`).
        "version": view.version,
        "plan": s.PlanOutputSerializer(plan).data,
        "children": [section["child"] for section in sections],
        "sections": [*sections, family],
        "reviews": review_rows,
        "comments": [c for c in comment_rows if c["kind"] == Comment.Kind.COMMENT],
        "views": [c for c in comment_rows if c["kind"] != Comment.Kind.COMMENT],
        "dissents": dissent_rows,
        "acknowledgements": ack_rows,
        "acknowledgement_states": [
            {
                "person": person,
                "acknowledgement": ack["id"],
                "version": ack["version"],
                "decision": ack["decision"],
                "outdated": ack["outdated"],
            }
            for person, ack in latest.items()
        ],
        "team": team,
        # Kinds declared beyond the ones this document places, by kind (only when there are).
        **({"items": others} if others else {}),
        "counts": {name: len(rows) for name, rows in rows_by_kind.items()},
    }


_USERS = ("created_by", "updated_by")
#: The kinds this document gives a place of their own (sections, reviews, comments, ...).
_PLACED = frozenset({"need", "goal", "action", "review", "comment", "dissent", "acknowledgement"})
