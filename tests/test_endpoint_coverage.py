"""Every routed (route, method) has a row in the permission matrix, and every view set
derives from PolicyViewSet. A new endpoint without a matrix row fails the build."""

from __future__ import annotations

from plan_service.api.routes import router
from plan_service.api.viewsets import PolicyViewSet
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
