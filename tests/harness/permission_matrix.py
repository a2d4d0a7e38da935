"""The permission matrix as data: every (route, method) with what each role may expect.

Roles are kinds of user in relation to the world's family (see world.py). Relations say which
plan the request addresses: `own` (the family's open plan), `completed` (its earlier completed
plan), `other` (another family's plan) and `missing` (an id that does not exist).

`expected()` derives the answer from REFERENCE, a small model of the rules written out by hand
from product.md, independent of plan_service.policy, so the matrix checks the policy instead of
repeating it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests import factories
from tests.harness.world import ABOUTS, ACTING_ROLES, ITEM_KINDS, Side, World

ROLES = (
    "anon",
    "lead",
    "health",
    "curator",
    "guardian",
    "child",
    "ended",
    "future",
    "stranger",
    "auditor",
    "admin",
    # Members on a consent basis (issue 21): checked on the family's open plan (`own`); on any
    # other plan they are strangers, as the rows above already show.
    "consent",
    "withdrawn",
    "expired",
    # The guardian acting for a child (issue 18, world.ACTING_ROLES): for the 13-year-old with
    # an account, for the 9-year-old, and for two children acting is blocked for (a custody
    # decision excluding the guardian; a non-disclosure marking). Acting for the 13-year-old is
    # checked on every plan; the others on the family's open plan.
    *ACTING_ROLES,
    # A machine client (a portal) with its own token, standing for the curator's school as a
    # recipient (docs/clients.md): refused everywhere but on its own routes.
    "client",
)
RELATIONS = ("own", "completed", "other", "missing")
#: The roles that read some of the plan, and one who reads none (rows of the wider world).
ITEM_ROLES = (
    "lead",
    "health",
    "curator",
    "guardian",
    "child",
    "consent",
    "stranger",
    *ACTING_ROLES,
)
#: Roles checked only against the family's open plan in plan-scoped rows.
OWN_PLAN_ONLY = frozenset({"consent", "withdrawn", "expired", "for-young", "for-barred"})
OWN_PLAN_ONLY |= {"for-marked"}
#: For rows with an explicit table (`expect=`), a newer role answers like an older one: a member
#: on a consent in force like the statutory nurse, a member whose consent was withdrawn or ran
#: out like the member whose membership ended, a guardian acting for a child like the guardian
#: (acting narrows which items are seen, never the routes: rows where it answers otherwise say
#: so with `acting=`). Rows need not list the newer roles.
EXPLICIT_AS = {
    "consent": "health",
    "withdrawn": "ended",
    "expired": "ended",
    **dict.fromkeys(ACTING_ROLES, "guardian"),
}

#
# Acting for a child, by hand from product.md and docs/identity.md (not from the policy):
#
#: The child each acting caller really acts for. Acting is refused for a child under a
#: non-disclosure marking, for a child a custody decision excludes the guardian from (and for
#: one under a placement restriction, or of age): the choice is dropped and the guardian acts as
#: themselves (None).
ACTS_FOR = {"for-child": "child", "for-young": "young", "for-barred": None, "for-marked": None}
#: Children whose items a guardian never sees, acting or not: a custody decision excludes them.
GUARDIAN_BARRED = frozenset({"barred"})
#: Acting callers are the guardian in person: what the guardian wrote is theirs to change.
PERSON_OF = dict.fromkeys(ACTING_ROLES, "guardian")
#: Guardians, acting or not (kind of reader "guardian").
GUARDIAN_KINDS = frozenset({"guardian", *ACTING_ROLES})
#: Ages of the children the guardian acts for: a child of 12 or more signs themself, so a
#: guardian acting for them may not sign in their name (docs/permissions.md).
AGE = {"child": 13, "young": 9}


def reads_about(role: str, names: tuple[str, ...] | set[str]) -> bool:
    """May `role` read an item about the children `names` (an empty tuple: the whole family)?

    Professionals and the child with an account: yes (their category rules decide). A guardian:
    not about a child a custody decision excludes them from. A guardian acting for a child: only
    about the whole family or about that child, and never more than as themselves.
    """
    if not names or role not in GUARDIAN_KINDS:
        return True
    if set(names) & GUARDIAN_BARRED:
        return False
    child = ACTS_FOR.get(role)
    return child is None or child in names


def may_sign(role: str) -> bool:
    """May this family reader sign a version (on the open plan)? A guardian acting for a child
    signs in the child's name only while the child is under 12."""
    child = ACTS_FOR.get(role)
    return child is None or AGE[child] < 12


CATEGORIES = ("general", "social", "health", "education", "family")
#: Who wrote the comments and dissents of each category in the world (their author may edit).
AUTHOR_OF = {
    "general": "guardian",
    "social": "lead",
    "health": "health",
    "education": "curator",
    "family": "guardian",
}

ALL = frozenset({"general", "social", "health", "education", "family"})
#: role -> (plan actions, categories read, categories written) on the family's open plan.
REFERENCE: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "lead": (
        frozenset({"view", "change", "contribute", "manage", "export"}),
        frozenset({"general", "social", "family"}),
        frozenset({"general", "social", "family"}),
    ),
    "health": (
        frozenset({"view", "change", "contribute"}),
        frozenset({"general", "health"}),
        frozenset({"general", "health"}),
    ),
    # The guardian consented to health data for the education sector.
    "curator": (
        frozenset({"view", "change", "contribute"}),
        frozenset({"general", "education", "health"}),
        frozenset({"general", "education"}),
    ),
    "guardian": (frozenset({"view", "contribute"}), ALL, frozenset({"family"})),
    "child": (frozenset({"view", "contribute"}), ALL, frozenset({"family"})),
    # Acting for a child changes no plan action and no category: it narrows which items are
    # seen (`reads_about`).
    **{
        role: (frozenset({"view", "contribute"}), ALL, frozenset({"family"}))
        for role in ACTING_ROLES
    },
    # A psychiatric nurse seated on the guardian's consent to social and health data: reads
    # general plus what the consent covers, writes only its own sector's categories among them.
    "consent": (
        frozenset({"view", "change", "contribute"}),
        frozenset({"general", "social", "health"}),
        frozenset({"general", "health"}),
    ),
}
#: Items hidden from the guardians at the child's wish: every reader of their category but the
#: guardian sees them (the child hid them; professionals are not the audience being limited).
HIDDEN_FROM = GUARDIAN_KINDS
READ_ONLY = frozenset({"view", "export"})
PROFESSIONALS = ("lead", "health", "curator", "ended", "future", "stranger")
PLAN_VIEWERS = ("lead", "health", "curator", "guardian", "child")


@dataclass(frozen=True)
class Endpoint:
    """One request shape: route name, method, and what it needs."""

    name: str
    route: str
    method: str
    path: Callable[[World, Side], str]
    needs: str = "view"
    category: str | None = None
    payload: Callable[[World, Side], Any] | None = None
    ok: int = 200
    author: str | None = None
    body_category: str | None = None  # category of an item named in the body (400 if unseen)
    write_category: str | None = None  # category of the item a create makes (403 if unwritable)
    expect: Callable[[str, str], int] | None = None
    plan_scoped: bool = True
    if_match: Callable[[World, Side], str] | None = None
    restricted: bool = False  # the item is hidden from the guardians (a mature child's wish)
    relations: tuple[str, ...] | None = None  # plan relations to check; None: all of them
    roles: tuple[str, ...] | None = None  # roles to check; None: all of ROLES
    about: str | None = None  # the item is about these children (a key of world.ABOUTS)
    body_about: str | None = None  # an item named in the body is about these (400 if unseen)
    #: For the acting callers, an explicit table where they answer unlike the guardian.
    acting: Callable[[str, str], int] | None = None


def expected(role: str, relation: str, ep: Endpoint) -> int:
    """What the rules say `role` gets for `ep` on the plan of `relation`."""
    if role == "anon":
        return 401
    if role == "client" and not ep.route.startswith("client-"):
        return 403  # deny by default: a client token reaches only the routes made for clients
    if ep.expect is not None:
        if ep.acting is not None and role in ACTING_ROLES:
            return ep.acting(role, relation)
        return ep.expect(EXPLICIT_AS.get(role, role), relation)
    if relation in ("other", "missing") or role not in REFERENCE:
        return 404
    actions, reads, writes = REFERENCE[role]
    if relation == "completed":
        actions = actions & READ_ONLY
    if ep.category is not None and ep.category not in reads:
        return 404
    if ep.restricted and role in HIDDEN_FROM:
        return 404
    if ep.about is not None and not reads_about(role, ABOUTS[ep.about]):
        return 404
    if ep.needs not in actions:
        return 403
    if ep.needs == "change" and ep.category is not None and ep.category not in writes:
        return 403
    if ep.write_category is not None and ep.write_category not in writes:
        return 403
    if ep.author is not None and PERSON_OF.get(role, role) != ep.author:
        return 403
    if ep.body_category is not None and ep.body_category not in reads:
        return 400
    if ep.body_about is not None and not reads_about(role, ABOUTS[ep.body_about]):
        return 400
    return ep.ok


def only(mapping: dict[str, int], default: int) -> Callable[[str, str], int]:
    return lambda role, relation: mapping.get(role, default)


def plan_only(
    per_role: dict[str, int], default: int, completed: dict[str, int] | None = None
) -> Callable[[str, str], int]:
    """An explicit expectation on the own plan; other and missing plans are 404."""

    def decide(role: str, relation: str) -> int:
        if relation in ("other", "missing"):
            return 404
        table = completed if relation == "completed" and completed is not None else per_role
        return table.get(role, default)

    return decide


_seq = itertools.count(1)

#: An `if_match` answer meaning "the ETag the caller gets from a GET of the same path".
READERS_OWN_ETAG = "reader's own"
#: A `version` in a body meaning "the plan's version as the caller gets it from a GET".
READERS_OWN_VERSION = "reader's own version"


def _guardians_version(w: World, s: Side) -> int:
    """The plan's version as the guardian sees it (reader-relative, plans/visibility.py);
    the stored one when the guardian cannot see the plan (the answer is 404 then anyway)."""
    from plan_service import policy
    from plan_service.plans.models import Plan
    from plan_service.plans.visibility import reader_view

    if not isinstance(s.plan, Plan):
        return 1  # the missing plan: the answer is 404 whatever the body says
    access = policy.plan_access(w.user("guardian"), s.plan)
    return reader_view(access).version if access is not None else s.plan.version


def school_recipient(w: World) -> str:
    """The registry code of the curator's school as a recipient (created on first use)."""
    from plan_service.participants.models import Recipient

    org = w.pros["curator"].organization
    recipient, _ = Recipient.objects.get_or_create(
        code="matrix-school",
        defaults={
            "name": "School",
            "kind": "organization",
            "sector": "education",
            "organization": org,
        },
    )
    return recipient.code


#
# Item payloads
#


def _item_payload(kind: str, category: str) -> Callable[[World, Side], dict[str, Any]]:
    def build(w: World, side: Side) -> dict[str, Any]:
        if kind == "needs":
            return {"category": category, "title": "new need"}
        if kind == "goals":
            return {"category": category, "title": "new goal", "desired_outcome": "better"}
        if kind == "actions":
            return {
                "category": category,
                "description": "do",
                "responsible_kind": "organization",
                "responsible_organization": str(w.organization_id),
            }
        if kind == "reviews":
            return {"category": category, "held_on": "2026-02-01", "notes": "n"}
        target = side.items[("goals", category)]
        return {"target_type": "goal", "target_id": str(target.pk), "text": "words"}

    return build


def _update_payload(kind: str, category: str) -> Callable[[World, Side], dict[str, Any]]:
    create = _item_payload(kind, category)

    def build(w: World, side: Side) -> dict[str, Any]:
        data = create(w, side)
        if kind in ("comments", "dissents"):
            return {**data, "target_id": str(side.items[("goals", category)].pk)}
        return data

    return build


def _item_endpoints() -> list[Endpoint]:
    eps: list[Endpoint] = []
    for kind in ITEM_KINDS:
        authored = kind in ("comments", "dissents")
        write_need = "contribute" if authored else "change"
        base = f"plan-{kind}"

        def lst(w: World, s: Side, kind: str = kind) -> str:
            return f"/api/v1/plans/{s.plan.pk}/{kind}/"

        eps.append(Endpoint(f"{kind} list", f"{base}-list", "GET", lst))
        for category in ("general", "social"):
            eps.append(
                Endpoint(
                    f"{kind} create {category}",
                    f"{base}-list",
                    "POST",
                    lst,
                    needs=write_need,
                    write_category=None if authored else category,
                    body_category=category if authored else None,
                    payload=_item_payload(kind, category),
                    ok=201,
                )
            )

            def detail(w: World, s: Side, kind: str = kind, category: str = category) -> str:
                return f"/api/v1/plans/{s.plan.pk}/{kind}/{s.items[(kind, category)].pk}/"

            def etag(w: World, s: Side, kind: str = kind, category: str = category) -> str:
                return f'W/"{s.items[(kind, category)].version}"'

            author = AUTHOR_OF[category] if authored else None
            if not authored:
                eps.append(
                    Endpoint(
                        f"{kind} restrict {category}",
                        f"{base}-restrict",
                        "POST",
                        lambda w, s, d=detail: f"{d(w, s)}restrict/",
                        needs="change",
                        category=category,
                        payload=lambda w, s: {"child": None},
                        if_match=etag,
                    )
                )
                eps.append(
                    Endpoint(
                        f"{kind} restore {category}",
                        f"{base}-restore",
                        "POST",
                        lambda w, s, d=detail: f"{d(w, s)}restore/",
                        needs="manage",
                        category=category,
                        payload=lambda w, s: {"version": 1},
                        if_match=etag,
                    )
                )
            eps.append(
                Endpoint(
                    f"{kind} read {category}", f"{base}-detail", "GET", detail, category=category
                )
            )
            for method, ok in (("PUT", 200), ("PATCH", 200), ("DELETE", 204)):
                eps.append(
                    Endpoint(
                        f"{kind} {method} {category}",
                        f"{base}-detail",
                        method,
                        detail,
                        needs=write_need,
                        category=category,
                        author=author,
                        ok=ok,
                        payload=None if method == "DELETE" else _update_payload(kind, category),
                        if_match=etag,
                    )
                )
        eps += _more_item_endpoints(kind, lst, authored, write_need)
    return eps


def _more_item_endpoints(
    kind: str, lst: Callable[[World, Side], str], authored: bool, write_need: str
) -> list[Endpoint]:
    """Rows for the other categories and the hidden items: reads and changes, on the family's
    open plan, by its readers and one outsider (the general and social rows above cover the
    other plans, completed plans, missing ids, creation and every other role)."""
    base = f"plan-{kind}"
    eps: list[Endpoint] = []
    for category in CATEGORIES[2:]:

        def detail(w: World, s: Side, kind: str = kind, category: str = category) -> str:
            return f"/api/v1/plans/{s.plan.pk}/{kind}/{s.items[(kind, category)].pk}/"

        def etag(w: World, s: Side, kind: str = kind, category: str = category) -> str:
            return f'W/"{s.items[(kind, category)].version}"'

        eps += [
            Endpoint(
                f"{kind} read {category}",
                f"{base}-detail",
                "GET",
                detail,
                category=category,
                relations=("own",),
                roles=ITEM_ROLES,
            ),
            Endpoint(
                f"{kind} PATCH {category}",
                f"{base}-detail",
                "PATCH",
                detail,
                needs=write_need,
                category=category,
                author=AUTHOR_OF[category] if authored else None,
                payload=_update_payload(kind, category),
                if_match=etag,
                relations=("own",),
                roles=ITEM_ROLES,
            ),
        ]
    if kind in ("needs", "goals"):

        def hidden(w: World, s: Side, kind: str = kind) -> str:
            return f"/api/v1/plans/{s.plan.pk}/{kind}/{s.hidden[kind].pk}/"

        def hidden_etag(w: World, s: Side, kind: str = kind) -> str:
            return f'W/"{s.hidden[kind].version}"'

        eps += [
            Endpoint(
                f"{kind} read general hidden",
                f"{base}-detail",
                "GET",
                hidden,
                category="general",
                restricted=True,
                relations=("own",),
                roles=ITEM_ROLES,
            ),
            Endpoint(
                f"{kind} PATCH general hidden",
                f"{base}-detail",
                "PATCH",
                hidden,
                needs="change",
                category="general",
                restricted=True,
                payload=_update_payload(kind, "general"),
                if_match=hidden_etag,
                relations=("own",),
                roles=ITEM_ROLES,
            ),
        ]
    return eps


#: Who is checked on the rows about one child: readers of general items, the guardian acting
#: or not, and the child with an account.
ABOUT_ROLES = ("lead", "curator", "guardian", "child", *ACTING_ROLES)


def _about_endpoints() -> list[Endpoint]:
    """Rows about single children (issue 18): reading, changing and commenting on an item about
    a child, on the family's open plan. (Only professionals name children in `concerns`: the
    family's words take those of what they are about; tests/identity/test_acting_for.py.)"""
    eps: list[Endpoint] = []
    for key in ABOUTS:

        def need(w: World, s: Side, key: str = key) -> str:
            return f"/api/v1/plans/{s.plan.pk}/needs/{s.about[('needs', key)].pk}/"

        def comment(w: World, s: Side, key: str = key) -> str:
            return f"/api/v1/plans/{s.plan.pk}/comments/{s.about[('comments', key)].pk}/"

        def need_etag(w: World, s: Side, key: str = key) -> str:
            return f'W/"{s.about[("needs", key)].version}"'

        def on_need(w: World, s: Side, key: str = key) -> dict[str, Any]:
            target = s.about[("needs", key)].pk
            return {"target_type": "need", "target_id": str(target), "text": "about it"}

        common = {"relations": ("own",), "roles": ABOUT_ROLES, "category": "general"}
        eps += [
            Endpoint(
                f"needs read about {key}", "plan-needs-detail", "GET", need, about=key, **common
            ),
            Endpoint(
                f"comments read about {key}",
                "plan-comments-detail",
                "GET",
                comment,
                about=key,
                **common,
            ),
            Endpoint(
                f"needs PATCH about {key}",
                "plan-needs-detail",
                "PATCH",
                need,
                needs="change",
                about=key,
                payload=lambda w, s: {"title": "changed"},
                if_match=need_etag,
                **common,
            ),
            Endpoint(
                f"comments create on a need about {key}",
                "plan-comments-list",
                "POST",
                lambda w, s: f"/api/v1/plans/{s.plan.pk}/comments/",
                needs="contribute",
                body_category="general",
                body_about=key,
                payload=on_need,
                ok=201,
                relations=("own",),
                roles=ABOUT_ROLES,
            ),
        ]
    return eps


def _plan_endpoints() -> list[Endpoint]:
    def plan(w: World, s: Side) -> str:
        return f"/api/v1/plans/{s.plan.pk}/"

    def plan_etag(w: World, s: Side) -> str:
        # Plan versions are counted as each reader sees them (issue 11): the caller's own ETag.
        return READERS_OWN_ETAG

    def members(w: World, s: Side) -> str:
        return f"/api/v1/plans/{s.plan.pk}/members/"

    def acks(w: World, s: Side) -> str:
        return f"/api/v1/plans/{s.plan.pk}/acknowledgements/"

    family_only = {"guardian": 201, "child": 201, "lead": 403, "health": 403, "curator": 403}
    lead_reads = {"lead": 200, "guardian": 200, "child": 200, "health": 403, "curator": 403}
    return [
        Endpoint(
            "plans list",
            "plans-list",
            "GET",
            lambda w, s: "/api/v1/plans/",
            expect=only({}, 200),
            plan_scoped=False,
        ),
        Endpoint(
            "plans create",
            "plans-list",
            "POST",
            lambda w, s: "/api/v1/plans/",
            payload=lambda w, s: {"family": str(w.new_family_id), "statute": "LSL §30"},
            expect=only(
                {
                    "lead": 201,
                    "health": 400,
                    "curator": 400,
                    "ended": 400,
                    "future": 400,
                    "stranger": 400,
                },
                403,
            ),
            plan_scoped=False,
        ),
        Endpoint("plan read", "plans-detail", "GET", plan),
        Endpoint(
            "plan document",
            "plans-document",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/document/",
        ),
        Endpoint(
            "plan change summary",
            "plans-detail",
            "PATCH",
            plan,
            needs="change",
            payload=lambda w, s: {"summary": "updated"},
            if_match=plan_etag,
        ),
        Endpoint(
            "plan change status",
            "plans-detail",
            "PATCH",
            plan,
            needs="manage",
            payload=lambda w, s: {"status": "on_hold"},
            if_match=plan_etag,
        ),
        Endpoint(
            "plan explain",
            "plans-explain",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/explain/?member={s.member_id}",
            expect=plan_only(
                {"lead": 200, "health": 403, "curator": 403, "guardian": 403, "child": 403}, 404
            ),
        ),
        Endpoint("members list", "plan-members-list", "GET", members),
        Endpoint(
            "members add",
            "plan-members-list",
            "POST",
            members,
            needs="manage",
            ok=201,
            payload=lambda w, s: {
                "professional": str(w.joiner.pk),
                "basis": "statute",
                "statute": "SHL 1301/2014 §41",
            },
        ),
        Endpoint(
            "members end",
            "plan-members-detail",
            "DELETE",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/members/{s.member_id}/",
            needs="manage",
            ok=204,
        ),
        Endpoint("acknowledgements list", "plan-acknowledgements-list", "GET", acks),
        Endpoint(
            "acknowledgements sign",
            "plan-acknowledgements-list",
            "POST",
            acks,
            payload=lambda w, s: {"version": _guardians_version(w, s), "decision": "agree"},
            # The body names the version *as the guardian sees it*; the child, who also sees
            # the items it hid itself, is at another version and is told so (409). The child's
            # own signing is tested in tests/plans and in the pages' browser tests.
            expect=plan_only(
                {**family_only, "child": 409},
                404,
                completed={**family_only, "guardian": 403, "child": 403},
            ),
            # Acting for a child: for the 13-year-old refused (a child of 12 signs themself),
            # for the 9-year-old the version is not theirs (they see only the family's and
            # their own items), for a blocked child as the guardian.
            acting=plan_only(
                {"for-child": 403, "for-young": 409, "for-barred": 201, "for-marked": 201},
                404,
                completed=dict.fromkeys(ACTING_ROLES, 403),
            ),
        ),
        Endpoint(
            "acknowledgements sign the version one sees",
            "plan-acknowledgements-list",
            "POST",
            acks,
            payload=lambda w, s: {"version": READERS_OWN_VERSION, "decision": "agree"},
            expect=plan_only(
                family_only, 404, completed={**family_only, "guardian": 403, "child": 403}
            ),
            acting=plan_only(
                {r: 201 if may_sign(r) else 403 for r in ACTING_ROLES},
                404,
                completed=dict.fromkeys(ACTING_ROLES, 403),
            ),
        ),
        Endpoint(
            "acknowledgements read",
            "plan-acknowledgements-detail",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/acknowledgements/{s.ack_id}/",
            expect=plan_only(
                dict.fromkeys(PLAN_VIEWERS, 200), 404, completed=dict.fromkeys(PLAN_VIEWERS, 404)
            ),
        ),
        Endpoint(
            "assessments list",
            "plan-assessments-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/assessments/",
            expect=plan_only(
                {"lead": 200, "health": 200, "curator": 200, "guardian": 403, "child": 403}, 404
            ),
        ),
        Endpoint(
            "assessments record",
            "plan-assessments-list",
            "POST",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/assessments/",
            needs="change",
            ok=201,
            payload=lambda w, s: {"child": str(w.child_person.pk), "code": 3},
        ),
        Endpoint(
            "history versions",
            "plan-history-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/history/",
        ),
        Endpoint(
            "history as of",
            "plan-history-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/history/?version=2",
        ),
        Endpoint(
            "history diff",
            "plan-history-diff",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/history/diff/?from=1&to=3",
        ),
        Endpoint(
            "plan FHIR export",
            "plan-fhir-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/fhir/",
            needs="export",
        ),
        # For a named recipient: the lead for any, a member for their own organisation
        # (the curator's school); the contents are checked in tests/fhir_export/test_recipients.
        Endpoint(
            "plan FHIR export for a recipient",
            "plan-fhir-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/fhir/?recipient={school_recipient(w)}",
            expect=plan_only(
                {"lead": 200, "curator": 200, "health": 403, "guardian": 403, "child": 403}, 404
            ),
        ),
        # No FHIR server is configured in tests: allowed pushes answer 503 (tested for real
        # against a FHIR engine in tests/fhir_export).
        Endpoint(
            "plan FHIR push",
            "plan-fhir-push",
            "POST",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/fhir/push/",
            payload=lambda w, s: {"recipient": school_recipient(w)},
            expect=plan_only(
                {"lead": 503, "curator": 503, "health": 403, "guardian": 403, "child": 403}, 404
            ),
        ),
        Endpoint(
            "plan FHIR push job",
            "plan-fhir-push-job",
            "POST",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/fhir/push-job/",
            payload=lambda w, s: {"recipient": school_recipient(w)},
            # The same rights as the push it queues (the curator for their own school).
            expect=plan_only(
                {"lead": 503, "curator": 503, "health": 403, "guardian": 403, "child": 403}, 404
            ),
        ),
        # No organisation of the world may use emergency access (tests/emergency covers it).
        Endpoint(
            "emergency access open",
            "plan-emergency-access-list",
            "POST",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/emergency-access/",
            payload=lambda w, s: {"reason_code": "child_safety", "reason_text": "x"},
            expect=only({}, 403),
        ),
        Endpoint(
            "family access log",
            "plan-access-log-list",
            "GET",
            lambda w, s: f"/api/v1/plans/{s.plan.pk}/access-log/",
            expect=plan_only(lead_reads, 404),
        ),
    ]


def _registry_endpoints() -> list[Endpoint]:
    admin_only = only({"admin": 201}, 403)
    auditor_only = only({"auditor": 200}, 403)
    family_readers = only(dict.fromkeys(PLAN_VIEWERS, 200), 404)
    consent_handlers = only({"lead": 200, "guardian": 200, "child": 200}, 404)

    def family_payload(w: World, s: Side) -> dict[str, Any]:
        return {
            "name": "New family",
            "members": [
                {
                    "kind": "child",
                    "given_name": "A",
                    "family_name": "B",
                    "identity_code": factories.identity_code(4),
                },
                {
                    "kind": "guardian",
                    "given_name": "C",
                    "family_name": "B",
                    "identity_code": factories.identity_code(30),
                    "guardian_of": [0],
                },
            ],
        }

    def consent_payload(w: World, s: Side) -> dict[str, Any]:
        return {
            "family": str(s.family_id),
            "grantor": str(w.guardian_person.pk),
            "subjects": [str(w.child_person.pk)],
            "categories": ["general"],
            "purpose": "p",
            "recipient_sector": "health",
            "method_detail": "meeting",
        }

    def unique_user(w: World, s: Side) -> dict[str, Any]:
        return {
            "username": f"newpro{next(_seq)}",
            "first_name": "N",
            "last_name": "P",
            "email": "n@example.org",
            "organization": str(w.organization_id),
            "role": "teacher",
        }

    def s_(ep: Endpoint) -> Endpoint:
        return Endpoint(**{**ep.__dict__, "plan_scoped": False})

    return [
        s_(e)
        for e in [
            Endpoint("me", "me-list", "GET", lambda w, s: "/api/v1/me/", expect=only({}, 200)),
            Endpoint(
                "my sessions",
                "my-sessions-list",
                "GET",
                lambda w, s: "/api/v1/me/sessions/",
                expect=only({}, 200),
            ),
            Endpoint(
                "end a session that is not mine",
                "my-sessions-detail",
                "DELETE",
                lambda w, s: "/api/v1/me/sessions/0d5f3a3e-3f0b-4a4c-9a1e-2b8f6c1d9e77/",
                expect=only({}, 404),
            ),
            Endpoint(
                "sign out everywhere",
                "my-sessions-end-all",
                "POST",
                lambda w, s: "/api/v1/me/sessions/end-all/",
                expect=only({}, 200),
            ),
            Endpoint(
                "organizations list",
                "organizations-list",
                "GET",
                lambda w, s: "/api/v1/organizations/",
                expect=only({}, 200),
            ),
            Endpoint(
                "organizations create",
                "organizations-list",
                "POST",
                lambda w, s: "/api/v1/organizations/",
                expect=admin_only,
                payload=lambda w, s: {
                    "name": "O",
                    "oid": f"1.2.246.10.{next(_seq)}.1",
                    "sector": "health",
                },
            ),
            Endpoint(
                "organizations read",
                "organizations-detail",
                "GET",
                lambda w, s: f"/api/v1/organizations/{w.organization_id}/",
                expect=only({}, 200),
            ),
            Endpoint(
                "professionals list",
                "professionals-list",
                "GET",
                lambda w, s: "/api/v1/professionals/",
                expect=only({}, 200),
            ),
            Endpoint(
                "professionals read",
                "professionals-detail",
                "GET",
                lambda w, s: f"/api/v1/professionals/{w.pros['lead'].pk}/",
                expect=only({"guardian": 404, "child": 404}, 200),
            ),
            Endpoint(
                "professionals create",
                "professionals-list",
                "POST",
                lambda w, s: "/api/v1/professionals/",
                expect=admin_only,
                payload=unique_user,
            ),
            Endpoint(
                "families list",
                "families-list",
                "GET",
                lambda w, s: "/api/v1/families/",
                expect=only({}, 200),
            ),
            Endpoint(
                "families read",
                "families-detail",
                "GET",
                lambda w, s: f"/api/v1/families/{s.family_id}/",
                expect=family_readers,
            ),
            Endpoint(
                "families create",
                "families-list",
                "POST",
                lambda w, s: "/api/v1/families/",
                payload=family_payload,
                expect=only(dict.fromkeys(PROFESSIONALS, 201), 403),
            ),
            Endpoint(
                "consents list",
                "consents-list",
                "GET",
                lambda w, s: "/api/v1/consents/",
                expect=only({}, 200),
            ),
            Endpoint(
                "consents read",
                "consents-detail",
                "GET",
                lambda w, s: f"/api/v1/consents/{s.consent_id}/",
                expect=consent_handlers,
            ),
            Endpoint(
                "consents give",
                "consents-list",
                "POST",
                lambda w, s: "/api/v1/consents/",
                payload=consent_payload,
                expect=only({"lead": 201, "guardian": 201, "child": 201}, 400),
            ),
            Endpoint(
                "consents withdraw",
                "consents-withdraw",
                "POST",
                lambda w, s: f"/api/v1/consents/{s.consent_id}/withdraw/",
                payload=lambda w, s: {"reason": "changed my mind"},
                expect=only({"lead": 200, "guardian": 200, "child": 403}, 404),
            ),
            Endpoint(
                "audit access log",
                "audit-access-log-list",
                "GET",
                lambda w, s: "/api/v1/audit/access-log/",
                expect=auditor_only,
            ),
            Endpoint(
                "audit disclosures",
                "audit-disclosures-list",
                "GET",
                lambda w, s: "/api/v1/audit/disclosures/",
                expect=auditor_only,
            ),
            Endpoint(
                "audit access log csv",
                "audit-access-log-export-csv",
                "GET",
                lambda w, s: "/api/v1/audit/access-log/export.csv/",
                expect=auditor_only,
            ),
            Endpoint(
                "audit access log fhir",
                "audit-access-log-export-fhir",
                "GET",
                lambda w, s: "/api/v1/audit/access-log/export.fhir/",
                expect=auditor_only,
            ),
            Endpoint(
                "audit disclosures fhir",
                "audit-disclosures-export-fhir",
                "GET",
                lambda w, s: "/api/v1/audit/disclosures/export.fhir/",
                expect=auditor_only,
            ),
            Endpoint(
                "audit disclosures csv",
                "audit-disclosures-export-csv",
                "GET",
                lambda w, s: "/api/v1/audit/disclosures/export.csv/",
                expect=auditor_only,
            ),
            Endpoint(
                "jobs list", "jobs-list", "GET", lambda w, s: "/api/v1/jobs/", expect=only({}, 200)
            ),
            # Jobs and notices are their owner's only: a stranger's id is 404 (tests/jobs).
            Endpoint(
                "jobs read",
                "jobs-detail",
                "GET",
                lambda w, s: f"/api/v1/jobs/{w.new_family_id}/",
                expect=only({}, 404),
            ),
            Endpoint(
                "jobs bulk export",
                "jobs-bulk-export",
                "POST",
                lambda w, s: "/api/v1/jobs/bulk-export/",
                payload=lambda w, s: {},
                expect=only({}, 202),
            ),
            Endpoint(
                "notifications list",
                "notifications-list",
                "GET",
                lambda w, s: "/api/v1/notifications/",
                expect=only({}, 200),
            ),
            Endpoint(
                "notifications read",
                "notifications-read",
                "POST",
                lambda w, s: f"/api/v1/notifications/{w.new_family_id}/read/",
                payload=lambda w, s: {},
                expect=only({}, 404),
            ),
            Endpoint(
                "notifications read all",
                "notifications-read-all",
                "POST",
                lambda w, s: "/api/v1/notifications/read-all/",
                payload=lambda w, s: {},
                expect=only({}, 200),
            ),
            Endpoint(
                "notification preferences",
                "notifications-preferences",
                "GET",
                lambda w, s: "/api/v1/notifications/preferences/",
                expect=only({}, 200),
            ),
            Endpoint(
                "notification preferences set",
                "notifications-preferences",
                "PUT",
                lambda w, s: "/api/v1/notifications/preferences/",
                payload=lambda w, s: {"language": "sv", "in_app": [], "email": ["review_due"]},
                expect=only({}, 200),
            ),
            Endpoint(
                "emergency review queue",
                "audit-emergency-access-list",
                "GET",
                lambda w, s: "/api/v1/audit/emergency-access/",
                expect=auditor_only,
            ),
            Endpoint(
                "emergency review",
                "audit-emergency-access-review",
                "POST",
                lambda w, s: f"/api/v1/audit/emergency-access/{w.new_family_id}/review/",
                payload=lambda w, s: {"decision": "accepted"},
                expect=only({"auditor": 404}, 403),
            ),
            Endpoint(
                "audit verify",
                "audit-verify-list",
                "GET",
                lambda w, s: "/api/v1/audit/verify/",
                expect=auditor_only,
            ),
        ]
    ]


def _client_endpoints() -> list[Endpoint]:
    """The machine clients' routes: the client reads the plans its recipient (the curator's
    school) may receive — the open and the completed plan, whose team the curator is on — and
    nobody else's; people are refused (403), whoever they are."""

    def for_client(role: str, relation: str) -> int:
        if role != "client":
            return 403
        return 200 if relation in ("own", "completed") else 404

    return [
        Endpoint(
            "client plans list",
            "client-plans-list",
            "GET",
            lambda w, s: "/api/v1/client/plans/",
            expect=lambda role, relation: 200 if role == "client" else 403,
            plan_scoped=False,
        ),
        Endpoint(
            "client plan FHIR",
            "client-plans-fhir",
            "GET",
            lambda w, s: f"/api/v1/client/plans/{s.plan.pk}/fhir/",
            expect=for_client,
        ),
    ]


ENDPOINTS: list[Endpoint] = [
    *_plan_endpoints(),
    *_item_endpoints(),
    *_about_endpoints(),
    *_registry_endpoints(),
    *_client_endpoints(),
]

#: Routes outside the router, and (route, method) pairs deliberately not in the matrix.
#: The OAuth endpoints of machine clients are tested for every kind of caller in tests/clients.
EXTRA_ROUTES = {("auth-token", "POST"), ("auth-token", "DELETE")}


#: Acting callers whose choice of child is refused (docs/identity.md): every request of theirs
#: is the guardian's own, so their writes are the guardian's cells. Their reads are checked on
#: every GET row (what they are shown), their writes only where a row says they differ.
ACTING_REFUSED = frozenset({"for-barred", "for-marked"})


def _refused_alike(role: str, relation: str, ep: Endpoint) -> bool:
    """Cells whose answer is decided before any plan or row is looked at, the same way on every
    other cell of the row: left out, since they would only repeat a cell that is checked.

    * A machine client's token is refused on every route but its own before the route is
      resolved to a plan, so only the family's open plan is checked on the others.
    * An acting caller whose acting is refused writes as the guardian (see ACTING_REFUSED).
    """
    if role == "client":
        return ep.plan_scoped and relation != "own" and not ep.route.startswith("client-")
    if role in ACTING_REFUSED:
        return ep.method != "GET" and ep.acting is None
    return False


def cells() -> list[tuple[str, str, Endpoint]]:
    """Every (role, relation, endpoint) the matrix checks."""
    out = []
    for ep in ENDPOINTS:
        relations = ep.relations or (RELATIONS if ep.plan_scoped else ("own",))
        for relation in relations:
            for role in ep.roles or ROLES:
                if role in OWN_PLAN_ONLY and ep.plan_scoped and relation != "own":
                    continue
                # A missing id answers an acting caller as another family's plan does.
                if role in ACTING_ROLES and relation == "missing":
                    continue
                if _refused_alike(role, relation, ep):
                    continue
                out.append((role, relation, ep))
    return out
