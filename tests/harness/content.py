"""What an allowed read must contain, by the matrix's hand-written reference model.

For a 200 on a plan's item list or item, on the plan itself and on the plan list, the answer is
compared with what REFERENCE (permission_matrix.py) says the role may see: which items (by id),
which fields (the contract's field lists, written out here), the links to other items (null when
the linked item is unseen), the caller's rights and the per-kind counts. Nothing here asks
plan_service.policy; the world's objects are read only for their ids, categories and content.
Other reads (team, history, acknowledgements, exports, logs) are checked by status in the matrix
and for content by their own tests and the noninterference harness.
"""

from __future__ import annotations

from typing import Any

from tests.harness.permission_matrix import HIDDEN_FROM, READ_ONLY, REFERENCE, reads_about
from tests.harness.world import ACTING_ROLES, Side, World

_COMMON = {
    "id",
    "category",
    "concerns",
    "hidden_from_guardians",
    "version",
    "plan_version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
}
#: Fields of each item kind in an answer (docs/api-contract.md), and the field holding its words.
ITEM_FIELDS: dict[str, set[str]] = {
    "needs": _COMMON | {"title", "description"},
    "goals": _COMMON
    | {"need", "title", "desired_outcome", "evidence", "target_date", "achievement"},
    "actions": _COMMON
    | {
        "goal",
        "description",
        "responsible_kind",
        "responsible_user",
        "responsible_person",
        "responsible_organization",
        "due_date",
        "status",
    },
    "reviews": _COMMON | {"held_on", "participants", "notes", "progress", "next_review_on"},
    "comments": _COMMON | {"kind", "target_type", "target_id", "text"},
    "dissents": _COMMON | {"target_type", "target_id", "text"},
}
WORDS = {"needs": "title", "goals": "title", "actions": "description", "comments": "text"}
WORDS["dissents"] = "text"
#: Links to other items: field -> (kind of the linked item, attribute holding its id).
LINKS = {"goals": ("need", "needs", "need_id"), "actions": ("goal", "goals", "goal_id")}
#: The plans each role finds in its plan list ("own": the open plan, "completed": the earlier).
PLANS_LISTED = {
    "lead": {"own", "completed"},
    "health": {"own", "completed"},
    "curator": {"own", "completed"},
    "guardian": {"own", "completed"},
    "child": {"own", "completed"},
    "consent": {"own"},
    **{role: {"own", "completed"} for role in ACTING_ROLES},
}
PLAN_ROLE = {"lead": "lead", "guardian": "family", "child": "family"}
PLAN_ROLE.update(dict.fromkeys(ACTING_ROLES, "family"))
SINGULAR = {"needs": "need", "goals": "goal", "actions": "action", "reviews": "review"}
SINGULAR.update(comments="comment", dissents="dissent")


def sees(world: World, role: str, item: Any) -> bool:
    """May `role` read `item`? Its category must be read; hidden items are not for HIDDEN_FROM."""
    _, reads, _ = REFERENCE[role]
    if item.category not in reads:
        return False
    if not reads_about(role, world.names_of(item.concerns)):
        return False
    if item.restricted_by_id is None:
        return True
    if role in HIDDEN_FROM:
        return False
    if role == "child":
        return item.restricted_by_id == world.child_person.pk
    return True


def _check_item(world: World, role: str, side: Side, kind: str, row: dict[str, Any]) -> None:
    by_id = {str(i.pk): i for i in side.all_items(kind)}
    item = by_id.get(row["id"])
    assert item is not None, f"{role} got a {kind} row that is not in the world: {row['id']}"
    assert sees(world, role, item), f"{role} must not see {kind} {item.pk} ({item.category})"
    assert set(row) == ITEM_FIELDS[kind], (kind, sorted(set(row) ^ ITEM_FIELDS[kind]))
    assert row["category"] == item.category
    assert row["hidden_from_guardians"] is (item.restricted_by_id is not None)
    if kind in WORDS:
        assert row[WORDS[kind]] == getattr(item, WORDS[kind])
    if kind in LINKS:
        field, linked_kind, attribute = LINKS[kind]
        linked_id = getattr(item, attribute)
        linked = {str(i.pk): i for i in side.all_items(linked_kind)}.get(str(linked_id))
        want = str(linked_id) if linked is not None and sees(world, role, linked) else None
        assert row[field] == want, f"{role}: {kind} {item.pk} {field} {row[field]} != {want}"


def _flags(role: str, relation: str) -> dict[str, Any]:
    actions, reads, writes = REFERENCE[role]
    if relation == "completed":
        actions = actions & READ_ONLY
    return {
        "plan_role": PLAN_ROLE.get(role, "member"),
        "actions": sorted(actions),
        "read_categories": sorted(reads),
        "write_categories": sorted(writes) if "change" in actions else [],
    }


ROUTES = frozenset(
    {"plans-list", "plans-detail"}
    | {f"plan-{kind}-{end}" for kind in ITEM_FIELDS for end in ("list", "detail")}
)


def check(world: World, role: str, relation: str, route: str, response: Any) -> None:
    """Assert that a 200 answer of `route` holds what the reference model expects."""
    if route not in ROUTES and route != "client-plans-list":
        return
    body = response.json()
    side = world.sides.get(relation)
    if route == "client-plans-list":
        # The school's portal: the plans whose team the school's curator is on, no other.
        listed = {r["id"] for r in body["results"]}
        assert listed == {str(world.sides[r].plan.pk) for r in ("own", "completed")}, listed
        return
    if route == "plans-list":
        listed = {r["id"] for r in body["results"]}
        want = {str(world.sides[r].plan.pk) for r in PLANS_LISTED.get(role, set())}
        assert listed == want, (role, listed, want)
        return
    if side is None or role not in REFERENCE:
        return
    if route == "plans-detail":
        assert body["id"] == str(side.plan.pk)
        assert body["permissions"] == _flags(role, relation)
        for kind, singular in SINGULAR.items():
            seen = [i for i in side.all_items(kind) if sees(world, role, i)]
            assert body["counts"][singular] == len(seen), (role, kind, body["counts"])
        return
    for kind in ITEM_FIELDS:
        if route == f"plan-{kind}-list":
            want = {str(i.pk) for i in side.all_items(kind) if sees(world, role, i)}
            got = [r["id"] for r in body["results"]]
            assert sorted(got) == sorted(want), (role, relation, kind, set(got) ^ want)
            assert body["count"] == len(want)
            for row in body["results"]:
                _check_item(world, role, side, kind, row)
            return
        if route == f"plan-{kind}-detail":
            _check_item(world, role, side, kind, body)
            return
