"""The permission matrix of the web pages: every page route, method, role and plan relation.

Pages answer like the API with page conventions: anonymous → 302 to the sign-in page; a plan the
reader may not see (other family, missing, not in force) → the 404 page; visible but not allowed
→ the 403 page; a GET that may be shown → 200; a write that went through → 302 back to the page.
Expectations are written out per role here, from product.md, not derived from the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.harness.permission_matrix import ACTS_FOR, may_sign
from tests.harness.world import ACTING_ROLES, Side, World

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
    *ACTING_ROLES,  # the guardian acting for each child (world.py, issue 18)
)
RELATIONS = ("own", "completed", "other", "missing")
VIEWERS = ("lead", "health", "curator", "guardian", "child")
#: Roles also checked on the other plan relations (acting for the 13-year-old; the other
#: acting callers on the family's open plan only).
ELSEWHERE = (*VIEWERS, "for-child")


@dataclass(frozen=True)
class Page:
    """One page request: route name (in the `web` namespace), method, and who gets what."""

    name: str
    route: str
    method: str
    path: Callable[[World, Side], str]
    own: dict[str, int]  # role -> status on the family's open plan (missing roles: 404)
    completed: dict[str, int] | None = None  # on the completed plan (default: as `own`)
    #: For the acting callers where they answer unlike the guardian (default: as the guardian).
    acting: dict[str, int] | None = None
    payload: Callable[[World, Side, str], dict[str, Any]] | None = None
    plan_scoped: bool = True
    namespace: str = "web"  # the URL namespace of `route` ("" for the sign-in flow's pages)

    @property
    def url_name(self) -> str:
        return f"{self.namespace}:{self.route}" if self.namespace else self.route


def expected(role: str, relation: str, page: Page) -> int:
    if role == "anon":
        return 302
    if role in ACTING_ROLES and page.acting is not None and relation == "own":
        return page.acting[role]
    if role in ACTING_ROLES:
        role = "guardian"  # acting narrows what is shown, never which pages answer
    if not page.plan_scoped:
        return page.own.get(role, 200)
    if relation in ("other", "missing"):
        return 404
    table = page.completed if relation == "completed" and page.completed is not None else page.own
    return table.get(role, 404)


def _plan(w: World, s: Side) -> str:
    return f"/plans/{s.plan.pk}/"


def _words(w: World, s: Side, role: str) -> dict[str, Any]:
    return {"target_type": "plan", "text": "from the matrix", "as": "comment"}


def _dissent(w: World, s: Side, role: str) -> dict[str, Any]:
    goal = s.items[("goals", "general")]
    return {"target_type": "goal", "target_id": str(goal.pk), "text": "no", "as": "dissent"}


def _sign(w: World, s: Side, role: str) -> dict[str, Any]:
    from plan_service import policy
    from plan_service.participants.acting import reset_acting_for, set_acting_for
    from plan_service.web import reading

    seen = "0" * 64
    user = w.user(role)
    plan = getattr(s.plan, "_meta", None) and type(s.plan).objects.filter(pk=s.plan.pk).first()
    # What the signer's page shows: acting for a child, that child's part (when acting holds).
    child = ACTS_FOR.get(role)
    token = set_acting_for(user.pk, w.children[child].pk) if child and user else None
    try:
        access = policy.plan_access(user, plan) if plan is not None and user is not None else None
        if access is not None:
            seen = reading.plan_page(access)["fingerprint"]
    finally:
        if token is not None:
            reset_acting_for(token)
    return {"decision": "agree", "comment": "", "seen": seen}


def _hide(w: World, s: Side, role: str) -> dict[str, Any]:
    need = s.items[("needs", "general")]
    return {"target_type": "need", "target_id": str(need.pk), "hide": "on"}


def _give(w: World, s: Side, role: str) -> dict[str, Any]:
    return {
        "subjects": [str(w.child_person.pk)],
        "categories": ["general"],
        "recipient_sector": "health",
        "purpose": "matrix",
    }


def _record_consent(w: World, s: Side, role: str) -> dict[str, Any]:
    return {
        "rec-grantor": str(w.guardian_person.pk),
        "rec-decision": "gave",
        "rec-subjects": [str(w.child_person.pk)],
        "rec-categories": ["general"],
        "rec-recipient": "sector:health",
        "rec-purpose": "matrix",
        "rec-method_detail": "signed form",
    }


def _school(w: World) -> str:
    from tests.harness.permission_matrix import school_recipient

    return school_recipient(w)


def _general_need(w: World, s: Side) -> Any:
    return s.items[("needs", "general")]


def _restore_path(w: World, s: Side) -> str:
    return f"{_plan(w, s)}history/restore/?type=need&item={_general_need(w, s).pk}&version=1"


def _restore(w: World, s: Side, role: str) -> dict[str, Any]:
    """Bring back the general need's first version, based on the version the caller sees."""
    from plan_service import policy
    from plan_service.plans.models import Plan
    from plan_service.plans.visibility import reader_view

    need = _general_need(w, s)
    expected = 1
    plan = Plan.objects.filter(pk=s.plan.pk).first()
    user = w.user(role)
    access = policy.plan_access(user, plan) if plan is not None and user is not None else None
    if access is not None:
        expected = reader_view(access).item_version("need", need.pk, need.version)
    return {
        "type": "need",
        "item": str(need.pk),
        "version": "1",
        "expected": str(expected),
        "code": "correction",
        "reason": "from the matrix",
    }


def _add_member(w: World, s: Side, role: str) -> dict[str, Any]:
    return {
        "professional": str(w.joiner.pk),
        "basis": "statute",
        "statute": "Lastensuojelulaki 417/2007 §30",
    }


def _member(w: World, s: Side) -> str:
    return f"{_plan(w, s)}team/{s.member_id}/"


def _item_path(kind: str, key: tuple[str, str]) -> Callable[[World, Side], str]:
    """The edit page of one item of the side: `kind` in the URL, `key` in `Side.items`."""
    return lambda w, s: f"{_plan(w, s)}items/{kind}/{s.items[key].pk}/edit/"


def _need(category: str) -> Callable[[World, Side, str], dict[str, Any]]:
    return lambda w, s, role: {"category": category, "title": f"from the matrix ({category})"}


def _need_change(category: str) -> Callable[[World, Side, str], dict[str, Any]]:
    """Change a need of `category`, based on its version as the caller sees it (versions are
    reader-relative: plans/visibility.py); 1 for a caller who cannot see the plan."""

    def payload(w: World, s: Side, role: str) -> dict[str, Any]:
        from plan_service import policy
        from plan_service.plans.visibility import reader_view

        need = s.items[("needs", category)]
        version = 1
        user = w.user(role)
        plan = getattr(s.plan, "_meta", None) and type(s.plan).objects.filter(pk=s.plan.pk).first()
        access = policy.plan_access(user, plan) if plan is not None and user is not None else None
        if access is not None and policy.may_read_item(access, need):
            version = reader_view(access).item_version("need", need.pk, need.version)
        return {"category": category, "title": "changed by the matrix", "version": version}

    return payload


family_writes = {"guardian": 302, "child": 302}
CONTRIBUTORS = dict.fromkeys(VIEWERS, 302)
READERS = dict.fromkeys(VIEWERS, 200)
CONTRIBUTE_REFUSED = dict.fromkeys(VIEWERS, 403)
#: Who may export the plan for the curator's school: the lead (any recipient) and the curator
#: (their own organisation); the nurse (another organisation) and the family may not.
SCHOOL_EXPORTERS = {"lead": 200, "curator": 200, "health": 403, "guardian": 403, "child": 403}
#: Pages of the lead's (MANAGE, EXPLAIN): every other reader of the plan gets the 403 page.
MANAGE_REFUSED = dict.fromkeys(VIEWERS, 403)
#: Needs, goals, actions and reviews are the team's to write (web/editing.py): the family may
#: read them (403), the completed plan is read-only (403 for all).
TEAM_FORMS = {"lead": 200, "health": 200, "curator": 200, "guardian": 403, "child": 403}
TEAM_WRITES = {"lead": 302, "health": 302, "curator": 302, "guardian": 403, "child": 403}
#: Child protection (social) is the social sector's: the nurse and the school curator do not
#: see such an item (404) and may not add one (403); the family reads it (403 to change).
SOCIAL_FORMS = {"lead": 200, "health": 404, "curator": 404, "guardian": 403, "child": 403}
SOCIAL_WRITES = {"lead": 302, "health": 404, "curator": 404, "guardian": 403, "child": 403}
SOCIAL_DONE = {"lead": 403, "health": 404, "curator": 404, "guardian": 403, "child": 403}

PAGES: list[Page] = [
    Page("start", "start", "GET", lambda w, s: "/start/", own={}, plan_scoped=False),
    Page(
        "start: search by name",
        "start-search",
        "POST",
        lambda w, s: "/start/search/",
        own=dict.fromkeys(ROLES, 302),
        payload=lambda w, s, role: {"q": s.plan.family.name, "status": "active", "due": "on"},
        plan_scoped=False,
    ),
    Page("plan page", "plan", "GET", _plan, own=READERS),
    Page(
        "comment on the plan",
        "words",
        "POST",
        lambda w, s: f"{_plan(w, s)}words/",
        own=CONTRIBUTORS,
        completed=CONTRIBUTE_REFUSED,
        payload=_words,
    ),
    Page(
        "dissent on a goal",
        "words",
        "POST",
        lambda w, s: f"{_plan(w, s)}words/",
        own=CONTRIBUTORS,
        completed=CONTRIBUTE_REFUSED,
        payload=_dissent,
    ),
    Page(
        "sign",
        "sign",
        "POST",
        lambda w, s: f"{_plan(w, s)}sign/",
        own={"guardian": 302, "child": 302, "lead": 403, "health": 403, "curator": 403},
        completed=CONTRIBUTE_REFUSED,
        payload=_sign,
        # A guardian signs in the name of a child under 12 only (docs/permissions.md).
        acting={r: 302 if may_sign(r) else 403 for r in ACTING_ROLES},
    ),
    Page(
        "hide (not about the child alone)",
        "hide",
        "POST",
        lambda w, s: f"{_plan(w, s)}hide/",
        own=dict.fromkeys(VIEWERS, 403),
        payload=_hide,
    ),
    Page(
        "consents page",
        "consents",
        "GET",
        lambda w, s: f"{_plan(w, s)}consents/",
        own={"lead": 200, "guardian": 200, "child": 200, "health": 403, "curator": 403},
    ),
    Page(
        "give consent",
        "consents",
        "POST",
        lambda w, s: f"{_plan(w, s)}consents/",
        own={"lead": 403, "guardian": 302, "child": 302, "health": 403, "curator": 403},
        payload=_give,
    ),
    Page(
        "withdraw consent",
        "consent-withdraw",
        "POST",
        # The completed plan is the same family's, so its page reaches the same consent.
        lambda w, s: f"{_plan(w, s)}consents/{s.consent_id or w.sides['own'].consent_id}/withdraw/",
        own={"lead": 302, "guardian": 302, "child": 403},
        payload=lambda w, s, r: {"reason": "matrix"},
    ),
    Page(
        "access log",
        "access-log",
        "GET",
        lambda w, s: f"{_plan(w, s)}access-log/",
        own={"lead": 200, "guardian": 200, "child": 200, "health": 403, "curator": 403},
    ),
    # The lead records a consent the family gave outside the service (docs/permissions.md
    # "Consent": the lead and the family handle consents; the family gives their own).
    Page(
        "record a consent (lead)",
        "consent-record",
        "POST",
        lambda w, s: f"{_plan(w, s)}consents/record/",
        own={"lead": 302, "guardian": 403, "child": 403, "health": 403, "curator": 403},
        payload=_record_consent,
    ),
    # Maturity assessments: the team's professionals only, never the family; recording needs
    # CHANGE, so a completed plan is read-only.
    Page(
        "maturity assessments",
        "assessments",
        "GET",
        lambda w, s: f"{_plan(w, s)}assessments/",
        own={**READERS, "guardian": 403, "child": 403},
    ),
    Page(
        "record a maturity assessment",
        "assessments",
        "POST",
        lambda w, s: f"{_plan(w, s)}assessments/",
        own={**CONTRIBUTORS, "guardian": 403, "child": 403},
        completed=CONTRIBUTE_REFUSED,
        payload=lambda w, s, r: {"child": str(w.child_person.pk), "code": "3"},
    ),
    # Export and push (docs/permissions.md "Export recipients"): the page is the team's
    # professionals'; the lead exports for any recipient, another member for their own
    # organisation only (the curator for the school; the nurse has none); the family never.
    Page(
        "share page",
        "share",
        "GET",
        lambda w, s: f"{_plan(w, s)}share/",
        own={**READERS, "guardian": 403, "child": 403},
    ),
    Page(
        "share preview for the school",
        "share",
        "GET",
        lambda w, s: f"{_plan(w, s)}share/?recipient={_school(w)}",
        own=SCHOOL_EXPORTERS,
    ),
    Page(
        "share download for the school",
        "share-bundle",
        "GET",
        lambda w, s: f"{_plan(w, s)}share/bundle.json?recipient={_school(w)}",
        own=SCHOOL_EXPORTERS,
    ),
    # No FHIR server is configured in tests: an allowed push answers 503 (as the API's).
    Page(
        "share push to the school",
        "share",
        "POST",
        lambda w, s: f"{_plan(w, s)}share/",
        own={**SCHOOL_EXPORTERS, "lead": 503, "curator": 503},
        payload=lambda w, s, r: {"recipient": _school(w)},
    ),
    # The plan's history (issue 17): every reader of the plan, also on a completed plan; the
    # lead alone restores, and not on a completed plan (MANAGE; docs/permissions.md).
    Page("history", "history", "GET", lambda w, s: f"{_plan(w, s)}history/", own=READERS),
    Page(
        "the plan at a version",
        "history-version",
        "GET",
        lambda w, s: f"{_plan(w, s)}history/1/",
        own=READERS,
    ),
    Page(
        "compare versions",
        "history-diff",
        "GET",
        lambda w, s: f"{_plan(w, s)}history/diff/?from=1&to=2",
        own=READERS,
    ),
    Page(
        "restore: confirm",
        "history-restore",
        "GET",
        _restore_path,
        own={**MANAGE_REFUSED, "lead": 200},
        completed=MANAGE_REFUSED,
    ),
    Page(
        "restore",
        "history-restore",
        "POST",
        lambda w, s: f"{_plan(w, s)}history/restore/",
        own={**MANAGE_REFUSED, "lead": 302},
        completed=MANAGE_REFUSED,
        payload=_restore,
    ),
    # The team: every reader of the plan sees it (the API's team list); the lead adds and ends
    # places on an open plan (MANAGE) and asks why a member sees what they see (EXPLAIN, also
    # on a completed plan).
    Page("team", "team", "GET", lambda w, s: f"{_plan(w, s)}team/", own=READERS),
    Page(
        "add a member: form",
        "team-add",
        "GET",
        lambda w, s: f"{_plan(w, s)}team/add/",
        own={**MANAGE_REFUSED, "lead": 200},
        completed=MANAGE_REFUSED,
    ),
    Page(
        "add a member",
        "team-add",
        "POST",
        lambda w, s: f"{_plan(w, s)}team/add/",
        own={**MANAGE_REFUSED, "lead": 302},
        completed=MANAGE_REFUSED,
        payload=_add_member,
    ),
    Page(
        "why can this member see this",
        "team-explain",
        "GET",
        lambda w, s: f"{_member(w, s)}explain/",
        own={**MANAGE_REFUSED, "lead": 200},
    ),
    Page(
        "end a membership: confirm",
        "team-end",
        "GET",
        lambda w, s: f"{_member(w, s)}end/",
        own={**MANAGE_REFUSED, "lead": 200},
        completed=MANAGE_REFUSED,
    ),
    Page(
        "end a membership",
        "team-end",
        "POST",
        lambda w, s: f"{_member(w, s)}end/",
        own={**MANAGE_REFUSED, "lead": 302},
        completed=MANAGE_REFUSED,
        payload=lambda w, s, r: {"reason": "from the matrix"},
    ),
    # The team's editing pages (web/editing.py, docs/web.md).
    Page(
        "add a need (form)",
        "item-new",
        "GET",
        lambda w, s: f"{_plan(w, s)}items/need/new/",
        own=TEAM_FORMS,
        completed=CONTRIBUTE_REFUSED,
    ),
    Page(
        "record a review meeting (form)",
        "item-new",
        "GET",
        lambda w, s: f"{_plan(w, s)}items/review/new/",
        own=TEAM_FORMS,
        completed=CONTRIBUTE_REFUSED,
    ),
    Page(
        "add a general need",
        "item-new",
        "POST",
        lambda w, s: f"{_plan(w, s)}items/need/new/",
        own=TEAM_WRITES,
        completed=CONTRIBUTE_REFUSED,
        payload=_need("general"),
    ),
    Page(
        "add a child-protection need",
        "item-new",
        "POST",
        lambda w, s: f"{_plan(w, s)}items/need/new/",
        own={**TEAM_WRITES, "health": 403, "curator": 403},
        completed=CONTRIBUTE_REFUSED,
        payload=_need("social"),
    ),
    Page(
        "change a general goal (form)",
        "item-edit",
        "GET",
        _item_path("goal", ("goals", "general")),
        own=TEAM_FORMS,
        completed=CONTRIBUTE_REFUSED,
    ),
    Page(
        "change a child-protection need (form)",
        "item-edit",
        "GET",
        _item_path("need", ("needs", "social")),
        own=SOCIAL_FORMS,
        completed=SOCIAL_DONE,
    ),
    Page(
        "change a general need",
        "item-edit",
        "POST",
        _item_path("need", ("needs", "general")),
        own=TEAM_WRITES,
        completed=CONTRIBUTE_REFUSED,
        payload=_need_change("general"),
    ),
    Page(
        "change a child-protection need",
        "item-edit",
        "POST",
        _item_path("need", ("needs", "social")),
        own=SOCIAL_WRITES,
        completed=SOCIAL_DONE,
        payload=_need_change("social"),
    ),
    # The auditor's console: the auditor alone; everyone else signed in gets the 403 page.
    Page(
        "audit console",
        "audit",
        "GET",
        lambda w, s: "/audit/",
        own={**dict.fromkeys(ROLES, 403), "auditor": 200},
        plan_scoped=False,
    ),
    Page(
        "audit disclosures",
        "audit-disclosures",
        "GET",
        lambda w, s: "/audit/disclosures/",
        own={**dict.fromkeys(ROLES, 403), "auditor": 200},
        plan_scoped=False,
    ),
    Page(
        "audit verify",
        "audit-verify",
        "POST",
        lambda w, s: "/audit/verify/",
        own={**dict.fromkeys(ROLES, 403), "auditor": 200},
        plan_scoped=False,
    ),
    # Acting for one's child: everyone signed in may open the choice (a guardian sees their
    # children, anyone else only "myself"; docs/identity.md).
    Page(
        "act for a child",
        "act-for",
        "GET",
        lambda w, s: "/auth/act-for/",
        own={},
        plan_scoped=False,
        namespace="",
    ),
    # One's own sessions: everyone signed in; "sign out everywhere" lands on the sign-in page.
    Page("sessions", "sessions", "GET", lambda w, s: "/sessions/", own={}, plan_scoped=False),
    Page(
        "sign out everywhere",
        "sessions-end",
        "POST",
        lambda w, s: "/sessions/end/",
        own=dict.fromkeys(ROLES, 302),
        plan_scoped=False,
    ),
    # Notices are each signed-in person's own: everyone who is signed in has the page.
    Page("notices", "notices", "GET", lambda w, s: "/notices/", own={}, plan_scoped=False),
    Page(
        "mark every notice read",
        "notices-read",
        "POST",
        lambda w, s: "/notices/read/",
        own=dict.fromkeys(ROLES, 302),
        plan_scoped=False,
    ),
    Page(
        "notice choices",
        "notices-preferences",
        "POST",
        lambda w, s: "/notices/preferences/",
        own=dict.fromkeys(ROLES, 302),
        payload=lambda w, s, r: {"in_app": ["review_due"], "email": [], "language": "sv"},
        plan_scoped=False,
    ),
]

#: Page routes covered by their own tests (tests/web/test_pages.py), not by the matrix.
PAGE_EXTRA_ROUTES = {"signin", "signout", "language"}


def cells() -> list[tuple[str, str, Page]]:
    """Every role on the open plan; on the other relations, the roles that could see a plan
    (the rest get 404 there as on the open plan, which the `own` cells already show)."""
    out = []
    for page in PAGES:
        for relation in RELATIONS if page.plan_scoped else ("own",):
            roles = ROLES if relation == "own" else ("anon", *ELSEWHERE)
            out.extend((role, relation, page) for role in roles)
    return out
