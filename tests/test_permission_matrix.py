"""Test programme row A: every route, method, role and plan relation answers as the rules say.

The cells come from tests/harness/permission_matrix.py; the expected answer from its hand-written
reference model, not from plan_service.policy.
"""

from __future__ import annotations

import pytest

from tests.conftest import world_client
from tests.harness import content
from tests.harness.fixtures import world  # noqa: F401 (fixture)
from tests.harness.permission_matrix import (
    READERS_OWN_ETAG,
    READERS_OWN_VERSION,
    cells,
    expected,
)

CELLS = cells()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "relation", "ep"),
    CELLS,
    ids=[f"{ep.name}|{role}|{relation}" for role, relation, ep in CELLS],
)
def test_permission_matrix(world, role, relation, ep):  # noqa: F811
    side = world.sides[relation]
    client = world_client(world, role)
    headers = {}
    if ep.if_match is not None:
        headers["HTTP_IF_MATCH"] = ep.if_match(world, side)
        if headers["HTTP_IF_MATCH"] == READERS_OWN_ETAG:
            headers["HTTP_IF_MATCH"] = client.get(ep.path(world, side)).get("ETag", 'W/"1"')
    payload = ep.payload(world, side) if ep.payload else None
    if isinstance(payload, dict) and payload.get("version") == READERS_OWN_VERSION:
        seen = client.get(f"/api/v1/plans/{side.plan.pk}/")
        payload["version"] = seen.json()["version"] if seen.status_code == 200 else 1
    response = client.request(ep.method, ep.path(world, side), payload, **headers)
    want = expected(role, relation, ep)
    assert response.status_code == want, (
        f"{ep.method} {ep.path(world, side)} as {role} on {relation}: "
        f"got {response.status_code}, want {want}: {response.content[:300]!r}"
    )
    assert response.status_code != 500
    if want == 200 and ep.method == "GET":
        # An allowed read must hold what the reference model says, not just answer 200.
        content.check(world, role, relation, ep.route, response)
    if want == 404:
        assert response.json() == {
            "errors": [{"field": None, "code": "not_found", "message": "Not found."}]
        }


def test_matrix_size_is_reported():
    """The note reports the number of cells; keep it visible in the test output."""
    print(f"permission matrix: {len(CELLS)} cells")
    assert len(CELLS) > 1000
