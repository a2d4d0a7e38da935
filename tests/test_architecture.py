"""The structure issue 14 asks for, checked on the source and on the running router.

* No authorization decision outside `plan_service/policy.py`: comparing a role, sector, plan
  role or account kind (a bare string or the enum) anywhere else fails, unless the spot is in
  `ALLOWED_COMPARISONS` with the reason it decides nothing.
* Domain apps use only the public pieces of the shared `plan_service.api` package, and only
  from their own `api/` modules; what does more today is listed with a TODO.
* Every view set's every routed action names its policy question; a view set that does not
  is refused at request time (a throwaway one is defined and called here).
* Every GET route logs its reads, or is in a reviewed list of routes that concern no person;
  a throwaway view set that forgets to log answers 500 with no data.
"""

from __future__ import annotations

import ast
import pathlib
import uuid
from typing import Any, ClassVar

import pytest
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from plan_service import policy
from plan_service.api.viewsets import PolicyViewSet
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants.models import Person
from plan_service.plans.models import Need
from plan_service.routes import router
from tests import factories

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plan_service"

#
# No authorization decision outside the policy
#

#: Values of roles, sectors, plan roles and account kinds: comparing one of these to a
#: `role`/`kind`/`sector`-like value is a decision about a person's rights.
DECISION_WORDS = frozenset(
    {
        "professional",
        "lead",
        "member",
        "family",
        "guardian",
        "child",
        "auditor",
        "admin",
        "administrator",
        "social",
        "health",
        "education",
    }
)
#: What the other side of such a comparison is called.
DECISION_NAMES = frozenset(
    {"role", "kind", "sector", "user_kind", "actor_kind", "plan_role", "recipient_sector"}
)
#: Enums whose members are roles, sectors or kinds of account, whatever they are reached
#: through, and kinds that are such only with their owner (`Person.Kind`, not `Comment.Kind`).
DECISION_ENUMS = frozenset({"Role", "Sector", "UserKind", "PlanRole"})
DECISION_OWNED_ENUMS = frozenset({("Person", "Kind"), ("Recipient", "Kind")})

#: (path, source of the comparison) -> why it is not an authorization decision.
ALLOWED_COMPARISONS: dict[tuple[str, str], str] = {
    (
        "plan_service/audit/api/serializers.py",
        "row.actor_kind == 'professional'",
    ): "a label: a log row names the unit of a professional who hides their name",
    (
        "plan_service/web/views.py",
        "row.actor_kind == 'professional'",
    ): "a label: the same rule as the audit serializer, for the family's log page",
    (
        "plan_service/participants/services.py",
        "people[child_index].kind != 'child'",
    ): "registering a family: a guardianship must link a child (data shape, 400)",
    (
        "plan_service/participants/services.py",
        "people[index].kind != 'guardian'",
    ): "registering a family: a guardianship must link a guardian (data shape, 400)",
    (
        "plan_service/plans/export.py",
        "m.role == Membership.PlanRole.LEAD",
    ): "FHIR mapping: the plan's lead is the CarePlan's author (who is shown, not who may)",
    (
        "plan_service/web/reading.py",
        "p.kind == Person.Kind.CHILD",
    ): "display: the children's sections of the page, from people the policy returned",
    (
        "plan_service/web/reading.py",
        "m.role != 'family'",
    ): "display: the team and the family are listed apart, from members the policy returned",
    (
        "plan_service/web/reading.py",
        "m.role == 'family'",
    ): "display: the team and the family are listed apart, from members the policy returned",
    (
        "plan_service/web/start.py",
        "kind in ('auditor', 'admin')",
    ): "display: auditors and administrators are members of no plan (their worklist is empty);"
    " the start page points them to their console and the admin instead",
}


def _owner_and_enum(node: ast.AST) -> tuple[str, str] | None:
    """For `Person.Kind.CHILD` -> ("Person", "Kind"); for `Role.X` -> ("", "Role")."""
    if not isinstance(node, ast.Attribute) or not node.attr.isupper():
        return None
    enum = node.value
    if isinstance(enum, ast.Name):
        return "", enum.id
    if isinstance(enum, ast.Attribute):
        owner = enum.value
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        return owner_name, enum.attr
    return None


def _terminal_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _terminal_name(node.func)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return None


def _decision_values(node: ast.AST) -> tuple[bool, bool]:
    """(holds a decision word as a string, holds a decision enum member)."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        parts = [_decision_values(e) for e in node.elts]
        return any(p[0] for p in parts), any(p[1] for p in parts)
    word = isinstance(node, ast.Constant) and node.value in DECISION_WORDS
    enum = _owner_and_enum(node)
    in_enum = enum is not None and (enum[1] in DECISION_ENUMS or enum in DECISION_OWNED_ENUMS)
    in_enum = in_enum or (isinstance(node, ast.Name) and node.id == "ROLE_SECTOR")
    return word, in_enum


def decision_comparisons(source: str) -> list[tuple[int, str]]:
    """Comparisons in `source` that decide on a role, sector or kind of account."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for i, side in enumerate(sides):
            word, enum = _decision_values(side)
            others = sides[:i] + sides[i + 1 :]
            if enum or (word and any(_terminal_name(o) in DECISION_NAMES for o in others)):
                found.append((node.lineno, ast.unparse(node)))
                break
    return found


def _product_modules() -> list[pathlib.Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in p.parts and p != PACKAGE / "policy.py"
    ]


def test_the_lint_finds_role_and_sector_decisions():
    """The lint itself: it fires on the shapes the issue found, and not on look-alikes."""
    fires = [
        'if access.kind != "professional": pass',
        'if access.membership.role != "lead": pass',
        "if access.kind == Person.Kind.CHILD: pass",
        "if m.role == Membership.PlanRole.LEAD: pass",
        "if professional.role not in ROLE_SECTOR: pass",
        'if policy.user_kind(user) not in ("professional", "admin"): pass',
        "if organization.sector == Sector.HEALTH: pass",
    ]
    quiet = [
        'if object_type == "family": pass',
        "if c.kind == Comment.Kind.COMMENT: pass",
        'if request.GET.get("own") == "1": pass',
        "if basis == Membership.Basis.CONSENT: pass",
    ]
    assert all(decision_comparisons(code) for code in fires)
    assert not any(decision_comparisons(code) for code in quiet)


def test_no_authorization_decision_outside_the_policy():
    found = {}
    for path in _product_modules():
        rel = str(path.relative_to(ROOT))
        for line, code in decision_comparisons(path.read_text()):
            if (rel, code) not in ALLOWED_COMPARISONS:
                found[f"{rel}:{line}"] = code
    assert found == {}, (
        "Ask plan_service.policy (a named predicate or question) instead of comparing roles, "
        "sectors or kinds of account here; if the comparison decides nothing about rights, "
        "add it to ALLOWED_COMPARISONS with the reason."
    )


def test_every_allowed_comparison_still_exists():
    """The allow-list does not outlive the code it excuses."""
    present = {
        (str(path.relative_to(ROOT)), code)
        for path in _product_modules()
        for _line, code in decision_comparisons(path.read_text())
    }
    assert set(ALLOWED_COMPARISONS) - present == set()


#
# Domain apps and the shared api/ package
#

#: What a domain app's api/ modules may import from the shared package: its base classes.
PUBLIC_API = {
    "plan_service.api.viewsets": {
        "PolicyViewSet",
        "PlanScopedMixin",
        "parse_uuid",
        "log_plan_read",
    },
    "plan_service.api.schema": {"ERRORS", "WRITE_ERRORS"},
    # For a list its reader bounds (the plan list): the length read with the page.
    "plan_service.api.pagination": {"CountedPageNumberPagination"},
    "plan_service.api.exceptions": {"error_body", "flatten"},  # the one error shape
    "plan_service.api.serializers": {
        "ModelSerializer",
        "StrictSerializer",
        "StrictModelSerializer",
        "ErrorSerializer",
        "MAX_INT",
    },
}
#: Sibling API modules importing another app's API views: none (shared pieces live in api/, an
#: app's serializers in its api/serializers.py).
KNOWN_SIBLING_API_IMPORTS: set[tuple[str, str]] = set()
DOMAIN_APPS = (
    "participants",
    "consent",
    "plans",
    "audit",
    "emergency",
    "jobs",
    "notifications",
    "web",
    "clients",
)


def _imports(path: pathlib.Path) -> list[tuple[str, str]]:
    """(module, name) for every `from module import name` (a bare import gives name "")."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            out.extend((alias.name, "") for alias in node.names)
    return out


def _domain_modules() -> list[pathlib.Path]:
    return [
        p
        for app in DOMAIN_APPS
        for p in sorted((PACKAGE / app).rglob("*.py"))
        if "migrations" not in p.parts
    ]


def test_domain_apps_use_only_the_public_base_classes_of_the_api_package():
    found = set()
    for path in _domain_modules():
        rel = str(path.relative_to(ROOT))
        # An app's api/ and the web pages (the other presentation layer) use the base pieces.
        in_own_api = "/api/" in rel or rel.startswith("plan_service/web/")
        for module, name in _imports(path):
            if module != "plan_service.api" and not module.startswith("plan_service.api."):
                continue
            if in_own_api and name in PUBLIC_API.get(module, set()):
                continue
            found.add((rel, module, name))
    assert found == set(), "import only PUBLIC_API, from an app's api/"


def test_no_app_imports_another_modules_api_views():
    found = set()
    for path in _domain_modules():
        rel = str(path.relative_to(ROOT))
        itself = rel.removesuffix(".py").replace("/", ".")
        for module, _name in _imports(path):
            parts = module.split(".")
            if (
                len(parts) == 4
                and parts[0] == "plan_service"
                and parts[1] in DOMAIN_APPS
                and parts[2:] == ["api", "views"]
                and module != itself
            ):
                found.add((rel, module))
    assert found - KNOWN_SIBLING_API_IMPORTS == set()
    assert KNOWN_SIBLING_API_IMPORTS - found == set()


#
# The base view fails closed
#


def _routed_actions(viewset: type[PolicyViewSet]) -> set[str]:
    names = {
        name
        for name in ("list", "retrieve", "create", "update", "partial_update", "destroy")
        if hasattr(viewset, name)
    }
    return names | {extra.__name__ for extra in viewset.get_extra_actions()}


def test_every_view_set_is_a_policy_view_set_with_a_question_per_action():
    missing = {}
    for _prefix, viewset, basename in router.registry:
        assert issubclass(viewset, PolicyViewSet), basename
        unanswered = _routed_actions(viewset) - set(viewset.policy_actions)
        if unanswered:
            missing[basename] = sorted(unanswered)
        for name, question in viewset.policy_actions.items():
            assert isinstance(question, policy.Question), (basename, name)
    assert missing == {}


class _Forgetful(PolicyViewSet):
    """A view set whose author forgot the policy question of one action."""

    policy_actions: ClassVar[dict[str, policy.Question]] = {"list": policy.SIGNED_IN}
    served: ClassVar[list[str]] = []

    def list(self, request: Any) -> Response:
        record_access(actor=request.user, action="read", subjects=[], object_type="test")
        self.served.append("list")
        return Response({"ok": True})

    @action(detail=False, methods=["post"])
    def erase(self, request: Any) -> Response:
        self.served.append("erase")
        return Response({"erased": True})


class _Unlogged(PolicyViewSet):
    """A view set whose author forgot to log a read."""

    policy_actions: ClassVar[dict[str, policy.Question]] = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
    }
    unlogged_reads: ClassVar[dict[str, str]] = {"retrieve": "test: concerns nobody"}

    def list(self, request: Any) -> Response:
        Need.objects.filter(pk=None).exists()  # reads, and logs nothing
        return Response({"secret": "data"})

    def retrieve(self, request: Any, pk: str) -> Response:
        return Response({"public": pk})


def _call(viewset: Any, actions: dict[str, str], method: str, user: Any, **kwargs: Any) -> Any:
    view = viewset.as_view(actions)
    request = getattr(APIRequestFactory(), method)("/throwaway/", format="json")
    force_authenticate(request, user=user)
    return view(request, **kwargs)


@pytest.mark.django_db
def test_a_view_set_refuses_an_action_without_a_policy_question():
    user = factories.professional().user
    _Forgetful.served.clear()
    assert _call(_Forgetful, {"get": "list"}, "get", user).status_code == 200
    refused = _call(_Forgetful, {"post": "erase"}, "post", user)
    assert refused.status_code == 403
    assert _Forgetful.served == ["list"]  # the unmapped handler never ran


@pytest.mark.django_db
def test_a_question_is_asked_before_the_handler_runs():
    family_user = factories.link(_person_of_new_family("guardian"))
    _Forgetful.served.clear()

    class _AuditorsOnly(_Forgetful):
        policy_actions: ClassVar[dict[str, policy.Question]] = {"list": policy.AUDITOR}

    assert _call(_AuditorsOnly, {"get": "list"}, "get", family_user).status_code == 403
    assert _Forgetful.served == []


@pytest.mark.django_db
def test_a_read_that_forgets_its_log_row_answers_500_without_data():
    user = factories.professional().user
    before = AccessEvent.objects.count()
    response = _call(_Unlogged, {"get": "list"}, "get", user)
    assert response.status_code == 500
    assert "secret" not in response.rendered_content.decode()
    assert AccessEvent.objects.count() == before
    # A read declared as concerning nobody is served without a row.
    assert _call(_Unlogged, {"get": "retrieve"}, "get", user, pk="x").status_code == 200


@pytest.mark.django_db
def test_a_logged_read_is_served():
    user = factories.professional().user
    before = AccessEvent.objects.count()
    assert _call(_Forgetful, {"get": "list"}, "get", user).status_code == 200
    assert AccessEvent.objects.count() == before + 1


def _person_of_new_family(kind: str) -> Any:
    return Person.objects.filter(family=factories.family(), kind=kind).first()


#
# Read logging: every GET route logs, or is reviewed here as concerning nobody
#

#: (route basename, action) -> why it reads no one's personal data. The base view answers 500
#: to any other GET that did not append an access-log row, so every other route must log.
REVIEWED_UNLOGGED_READS = {
    ("me", "list"),
    ("my-sessions", "list"),
    ("organizations", "list"),
    ("organizations", "retrieve"),
    ("professionals", "list"),
    ("professionals", "retrieve"),
    ("jobs", "list"),
    ("jobs", "retrieve"),
    ("notifications", "list"),
    ("notifications", "preferences"),
}


def _get_actions(viewset: type[PolicyViewSet]) -> set[str]:
    names = {n for n in ("list", "retrieve") if hasattr(viewset, n)}
    for extra in viewset.get_extra_actions():
        if "get" in extra.mapping:
            names.add(extra.__name__)
    return names


def test_every_get_route_logs_or_is_reviewed_as_concerning_nobody():
    unlogged = set()
    for _prefix, viewset, basename in router.registry:
        for name in _get_actions(viewset):
            reason = viewset.unlogged_reads.get(name)
            if reason is not None:
                assert reason.strip(), (basename, name)
                unlogged.add((basename, name))
    assert unlogged == REVIEWED_UNLOGGED_READS


#
# The shared api/ package knows no domain app
#

#: What api/ (shared plumbing: the base view, error shape, parsers, schema helpers) may import
#: of the rest: the policy, the plain domain errors, and the log every request writes (its
#: context, model and services) — answering a request includes logging it, in its transaction.
API_MAY_IMPORT = (
    "plan_service.api",
    "plan_service.policy",
    "plan_service.errors",
    "plan_service.text_limits",
    "plan_service.audit.context",
    "plan_service.audit.models",
    "plan_service.audit.services",
)
#: None: the router, which knows every app, is the project's (plan_service/routes.py).
KNOWN_API_DOMAIN_IMPORTS: set[str] = set()


def test_the_api_package_imports_no_domain_app():
    offenders = {}
    for path in sorted((PACKAGE / "api").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        imported = [
            f"{module}.{name}" if module == "plan_service" else module
            for module, name in _imports(path)
        ]
        bad = sorted(
            module
            for module in imported
            if module.startswith("plan_service")
            and not any(module == m or module.startswith(m + ".") for m in API_MAY_IMPORT)
        )
        if bad:
            offenders[rel] = bad
    assert set(offenders) - KNOWN_API_DOMAIN_IMPORTS == set(), offenders
    assert KNOWN_API_DOMAIN_IMPORTS - set(offenders) == set(), "drop the row of a fixed module"


def test_the_audit_log_imports_no_app_above_it():
    """The logs sit below the registry and the domain: they are told whom a row concerns and
    who the actor is (`audit.parties`, answered by the owning apps), and the family's log is
    given the items the reader may see. Only the audit app's own API views (presentation)
    import the domain."""
    above = tuple(f"plan_service.{app}" for app in DOMAIN_APPS if app != "audit")
    offenders = {}
    for path in sorted((PACKAGE / "audit").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if "migrations" in path.parts or "/audit/api/" in rel:
            continue
        bad = sorted(
            module
            for module, _name in _imports(path)
            if any(module == m or module.startswith(m + ".") for m in above)
        )
        if bad:
            offenders[rel] = bad
    assert offenders == {}


@pytest.mark.django_db
def test_every_question_the_audit_log_asks_is_answered():
    """Each app registered its answer at start-up (a missing one would log less, silently)."""
    from plan_service.audit import parties

    lead = factories.professional()
    plan = factories.plan(lead)
    facts = parties.actor_facts(lead.user)
    assert facts["actor_kind"] == "professional"
    assert facts["actor_organization_id"] == lead.organization_id
    target = parties.target("plan", plan.pk)
    assert target is not None
    assert target.family_id == plan.family_id
    assert sorted(target.people) == sorted(plan.family.members.values_list("pk", flat=True))
    assert parties.target("family", plan.family_id).people == target.people
    assert parties.target("plan", uuid.uuid4()) is None
    assert parties.target("goal", plan.pk) is None  # items name their people otherwise


@pytest.mark.parametrize(
    "module", ["errors.py", "historical.py", "categories.py", "text_limits.py", "models_base.py"]
)
def test_the_bottom_layer_imports_no_app(module):
    """The shared foundations are told, never ask: no app, no policy."""
    above = ("plan_service.policy", *(f"plan_service.{app}" for app in DOMAIN_APPS))
    imported = [m for m, _name in _imports(PACKAGE / module)]
    assert [m for m in imported if any(m == a or m.startswith(a + ".") for a in above)] == []
