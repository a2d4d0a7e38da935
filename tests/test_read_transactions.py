"""A read runs without a transaction of its own (api/viewsets.py), on committed data as in
production (`live_db`: no test transaction around the request).

Its only writes are single statements (the access-log append, the read model's upserts), so
BEGIN and COMMIT would cost two round trips and buy nothing; a write keeps its transaction.
The log still fails closed: a read whose log row cannot be written answers 503 and no data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plan_service.audit.models import AccessEvent
from tests import factories
from tests.audit.helpers import REFUSING_TRIGGER, refuse_log_rows
from tests.conftest import Api
from tests.harness.db_roles import owner_session
from tests.test_hot_paths import _plan

TRANSACTION = ("BEGIN", "SAVEPOINT", "COMMIT", "RELEASE")


@pytest.fixture
def scene(live_db):
    lead = factories.professional()
    plan, guardian, goal = _plan(lead, goals=2, children=1)
    pro, fam = Api(lead.user), Api(guardian)
    reads = [
        (pro, f"/api/v1/plans/{plan.pk}/"),
        (pro, f"/api/v1/plans/{plan.pk}/document/"),
        (pro, "/api/v1/plans/"),
        (pro, f"/api/v1/plans/{plan.pk}/goals/"),
        (fam, f"/api/v1/plans/{plan.pk}/access-log/"),
    ]
    return pro, plan, goal, reads


def _statements(client: Api, method: str, url: str, *args, **headers) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.request(method, url, *args, **headers)
    return response.status_code, [q["sql"].lstrip() for q in ctx.captured_queries]


def test_a_read_opens_no_transaction_and_a_write_one(scene):
    pro, plan, goal, reads = scene
    for client, url in reads:
        client.get(url)  # the first read after a change renders and stores
        status, statements = _statements(client, "GET", url)
        assert status == 200, url
        assert not [s for s in statements if s.startswith(TRANSACTION)], url
        assert sum("audit_chain_append" in s for s in statements) == 1, url
        assert not connection.in_atomic_block
    # A read-model hit of the document: token, access, stored rendering, log append.
    status, statements = _statements(pro, "GET", f"/api/v1/plans/{plan.pk}/document/")
    assert len(statements) == 4, statements
    goal.refresh_from_db()
    status, statements = _statements(
        pro,
        "PATCH",
        f"/api/v1/plans/{plan.pk}/goals/{goal.pk}/",
        {"title": "changed"},
        HTTP_IF_MATCH=f'W/"{goal.version}"',
    )
    assert status == 200
    assert statements[0] == "BEGIN"
    assert statements[-1] == "COMMIT"


@pytest.fixture
def broken_log(live_db) -> Iterator[None]:
    """The log refuses every row until the test ends (committed: there is no test
    transaction to roll it back). Only the owner may add a trigger."""
    with owner_session(), connection.cursor() as cursor:
        refuse_log_rows(cursor)
    try:
        yield
    finally:
        with owner_session(), connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {REFUSING_TRIGGER} ON audit_accessevent")


def test_a_read_without_a_transaction_still_fails_closed(scene, broken_log):
    _, plan, goal, reads = scene
    before = AccessEvent.objects.count()
    for client, url in reads:
        response = client.get(url)
        assert response.status_code == 503, url
        assert response["Retry-After"]
        assert goal.title.encode() not in response.content
        assert str(plan.pk).encode() not in response.content
        assert not connection.in_atomic_block
    # No row, and the connection is usable: the failed statement ended with itself.
    assert AccessEvent.objects.count() == before
