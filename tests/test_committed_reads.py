"""Every read route of the API and of the pages, on committed data and with no transaction
around it, as in production.

The permission matrices (tests/test_permission_matrix.py, tests/web/test_page_matrix.py) run
each request inside the test's own transaction, where a read nests in a savepoint. In
production a read runs in autocommit (api/viewsets.py, `PolicyViewSet.opens_transaction`), and
there a read that needs a transaction of its own fails where the matrices cannot see it: a row
lock (`select_for_update` outside a transaction is an error, answered 503), or anything else
Django refuses outside `atomic`. Here the same world is committed (`live_db`) and the read cells
of both matrices are asked again, each with the answer its matrix expects. A route's code path
differs by its answer and by who asks (a plan member, a family member, a guardian acting for a
child, a member on a consent basis, a former or future member, a stranger, an auditor, an
administrator, a machine client, no one), so one cell of each is asked, on a plan relation
(own, completed, other, missing) that turns from route to route; each 200 has its content
checked. (Streamed bodies are the exports', which tests/test_read_transactions.py reads.)
"""

from __future__ import annotations

from django.db import connection

from tests.conftest import world_client
from tests.harness import content
from tests.harness import page_matrix as pages
from tests.harness import permission_matrix as api_matrix
from tests.harness.world import build_world
from tests.web.helpers import page_client

_ASKERS = {
    "guardian": "family",
    "child": "family",
    "consent": "consent",
    "withdrawn": "consent",
    "expired": "consent",
    "ended": "former",
    "future": "former",
}
RELATIONS = ("own", "completed", "other", "missing")


def _asker(role: str) -> str:
    if role.startswith("for-"):
        return "acting"
    if role in ("auditor", "admin", "client", "anon", "stranger"):
        return role
    return _ASKERS.get(role, "member")


def _one_per_path(cells, expected):
    """The read cells, one per (route, who asks, expected answer), the plan relation preferred
    in an order that turns with each route."""
    routes = sorted({ep.name for _, _, ep in cells})

    def preference(cell):
        turn = routes.index(cell[2].name)
        return (RELATIONS.index(cell[1]) - turn) % len(RELATIONS)

    seen, chosen = set(), []
    for role, relation, ep in sorted(cells, key=preference):
        want = expected(role, relation, ep) if ep.method == "GET" else None
        if want is None or (ep.name, _asker(role), want) in seen:
            continue
        seen.add((ep.name, _asker(role), want))
        chosen.append((role, relation, ep, want))
    return chosen


API_READS = _one_per_path(api_matrix.cells(), api_matrix.expected)
PAGE_READS = _one_per_path(pages.cells(), pages.expected)


def test_every_read_answers_as_its_matrix_says_on_committed_data(live_db):
    world = build_world()
    assert not connection.in_atomic_block  # the world is committed, as production's data is
    wrong, api_clients, page_clients = [], {}, {}
    for role, relation, ep, want in API_READS:
        path = ep.path(world, world.sides[relation])
        if role not in api_clients:
            api_clients[role] = world_client(world, role)
        response = api_clients[role].get(path)
        assert not connection.in_atomic_block, path  # nothing left open behind the answer
        if response.status_code != want:
            wrong.append(f"GET {path} as {role} on {relation}: {response.status_code} != {want}")
        elif want == 200:
            content.check(world, role, relation, ep.route, response)
    for role, relation, page, want in PAGE_READS:
        path = page.path(world, world.sides[relation])
        if role not in page_clients:
            user = world.user(role) if role != "anon" else None
            page_clients[role] = page_client(user, acting_for=world.acting_for(role))
        response = page_clients[role].get(path)
        assert not connection.in_atomic_block, path
        if response.status_code != want:
            wrong.append(f"page {path} as {role} on {relation}: {response.status_code} != {want}")
    assert len(API_READS) > 800  # the matrices' reads, not a few
    assert len(PAGE_READS) > 250
    assert not wrong, "\n".join(wrong)
