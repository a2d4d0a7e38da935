"""Every page, method, role and plan relation answers as tests/harness/page_matrix.py says."""

from __future__ import annotations

import pytest

from tests.harness.fixtures import world  # noqa: F401 (fixture)
from tests.harness.page_matrix import cells, expected
from tests.web.helpers import page_client

CELLS = cells()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "relation", "page"),
    CELLS,
    ids=[f"{p.name}|{role}|{relation}" for role, relation, p in CELLS],
)
def test_page_matrix(world, role, relation, page):  # noqa: F811
    side = world.sides[relation]
    client = page_client(
        world.user(role) if role != "anon" else None, acting_for=world.acting_for(role)
    )
    path = page.path(world, side)
    payload = page.payload(world, side, role) if page.payload else {}
    response = client.get(path) if page.method == "GET" else client.post(path, payload)
    want = expected(role, relation, page)
    assert response.status_code == want, (
        f"{page.method} {path} as {role} on {relation}: got {response.status_code}, want {want}"
    )
    if want == 302 and role != "anon" and page.method == "POST":
        # A write that went through lands back on a page, never on an error.
        follow = client.get(response["Location"])
        assert follow.status_code == 200
        assert b'class="msg error"' not in follow.content, follow.content[:2000]
    if want == 302 and role == "anon":
        assert response["Location"].startswith("/?next=")
    if want in (200, 403, 404):
        assert "no-store" in response["Cache-Control"]
    if want == 404:
        assert b"<h1>Not found</h1>" in response.content
