"""Every routed (route, method) has a row in the permission matrix, and every view set
derives from PolicyViewSet. A new endpoint without a matrix row fails the build."""

from __future__ import annotations

from plan_service.api.viewsets import PolicyViewSet
from plan_service.routes import router
from tests.harness.permission_matrix import ENDPOINTS, EXTRA_ROUTES

HTTP = {"get", "post", "put", "patch", "delete"}


def routed_pairs() -> set[tuple[str, str]]:
    pairs = set()
    for pattern in router.urls:
        callback = pattern.callback
        allowed = set(callback.cls.http_method_names)
        for method in getattr(callback, "actions", {}):
            if method in HTTP and method in allowed:
                pairs.add((pattern.name, method.upper()))
    return pairs


def test_every_route_has_a_matrix_row():
    covered = {(ep.route, ep.method) for ep in ENDPOINTS} | EXTRA_ROUTES
    missing = sorted(routed_pairs() - covered)
    assert missing == [], f"routes without a permission-matrix row: {missing}"


def test_matrix_names_only_real_routes():
    stale = sorted({(ep.route, ep.method) for ep in ENDPOINTS} - routed_pairs())
    assert stale == []


def test_every_viewset_is_a_policy_viewset():
    offenders = [
        viewset.__name__
        for _prefix, viewset, _basename in router.registry
        if not issubclass(viewset, PolicyViewSet)
    ]
    assert offenders == []


#
# Pages: every route outside the API has a row in the page matrix (tests/harness/page_matrix.py)
#

#: Routes that are not pages of ours: the API and its documents, probes, Django's admin.
#: Not in the page matrix: the API, the admin, probes, and the sign-in flows (accounts/, and
#: auth/oidc/: the OpenID redirects and keys, each tested for every kind of caller in
#: tests/identity). The child choice (auth/act-for/) is a page and has its row.
NOT_PAGES = ("api/", "admin/", "healthz", "readyz", "accounts/", "auth/oidc/")


def page_routes() -> set[str]:
    """Names of every routed page outside the API (recursing into included URLconfs)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    names: set[str] = set()

    def walk(patterns: list, prefix: str, namespace: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, route, ns)
            elif isinstance(p, URLPattern) and not route.startswith(NOT_PAGES):
                names.add(f"{namespace}{p.name}")

    walk(get_resolver().url_patterns, "", "")
    return names


def test_every_page_has_a_matrix_row():
    from tests.harness.page_matrix import PAGE_EXTRA_ROUTES, PAGES

    covered = {p.url_name for p in PAGES} | {f"web:{r}" for r in PAGE_EXTRA_ROUTES}
    missing = sorted(page_routes() - covered)
    assert missing == [], f"pages without a page-matrix row: {missing}"
    assert {p.url_name for p in PAGES} <= page_routes()
