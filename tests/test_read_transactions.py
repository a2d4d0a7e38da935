"""A read runs without a transaction of its own (api/viewsets.py), on committed data as in
production (`live_db`: no test transaction around the request).

Its only writes are single statements (the access-log append, the read model's upserts), so
BEGIN and COMMIT would cost two round trips and buy nothing; a write keeps its transaction.
The log still fails closed: a read whose log row cannot be written answers 503 and no data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from tests import factories
from tests.audit.helpers import REFUSING_TRIGGER, refuse_log_rows
from tests.clients.test_clients import Portal, bearer
from tests.conftest import Api
from tests.harness.db_roles import owner_session
from tests.test_hot_paths import _plan, statements

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
    response, sent = statements(client, method, url, *args, **headers)
    return response.status_code, sent


def test_a_read_opens_no_transaction_and_a_write_one(scene):
    pro, plan, goal, reads = scene
    for client, url in reads:
        client.get(url)  # the first read after a change renders and stores
        status, statements = _statements(client, "GET", url)
        assert status == 200, url
        assert not [s for s in statements if s.startswith(TRANSACTION)], url
        assert sum("audit_chain_append" in s for s in statements) == 1, url
        assert not connection.in_atomic_block
    # A read-model hit of the document and of the plan, and the plan list's first page: token,
    # access (or the compiled page), stored rendering (or the families' people), log append.
    for url in (
        f"/api/v1/plans/{plan.pk}/document/",
        f"/api/v1/plans/{plan.pk}/",
        "/api/v1/plans/",
    ):
        status, statements = _statements(pro, "GET", url)
        assert len(statements) == 4, (url, statements)
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


@contextlib.contextmanager
def refusing_log() -> Iterator[None]:
    """The log refuses every row until the block ends (committed: there is no test
    transaction to roll it back). Only the owner may add a trigger."""
    with owner_session(), connection.cursor() as cursor:
        refuse_log_rows(cursor)
    try:
        yield
    finally:
        with owner_session(), connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {REFUSING_TRIGGER} ON audit_accessevent")


def test_a_read_without_a_transaction_still_fails_closed(scene):
    _, plan, goal, reads = scene
    before = AccessEvent.objects.count()
    with refusing_log():
        for client, url in reads:
            response = client.get(url)
            assert response.status_code == 503, url
            assert response["Retry-After"]
            assert goal.title.encode() not in response.content
            assert str(plan.pk).encode() not in response.content
            assert not connection.in_atomic_block
    # No row, and the connection is usable: the failed statement ended with itself.
    assert AccessEvent.objects.count() == before


def test_a_refused_token_on_a_read_is_logged_at_once_and_a_log_outage_keeps_the_401(live_db):
    """With no request transaction to roll it back, a refused machine token's row is written
    at once (audit/accounts.py `_defer`); a log that cannot take it is a warning, as after the
    response, and the answer stays the 401, not a 503."""
    portal = Portal()
    http = Client()
    expired, also_expired = portal.token(http), portal.token(http)
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=301)):
        response = http.get("/api/v1/client/plans/", **bearer(expired))
        assert response.status_code == 401
        (row,) = AccessEvent.objects.filter(
            action="denied", actor_username=portal.client_id, outcome_code=401
        )
        assert row.query == {"path": "/api/v1/client/plans/", "reason": "expired"}
        with refusing_log():
            response = http.get("/api/v1/client/plans/", **bearer(also_expired))
        assert response.status_code == 401
    assert AccessEvent.objects.filter(action="denied", actor_username=portal.client_id).count() == 1


def test_the_logs_verification_streams_each_chain_in_a_transaction(live_db, monkeypatch):
    """An auditor's verification is a read, so it has no request transaction; outside one
    Django declares its server-side cursor WITH HOLD, and PostgreSQL copies the whole chain
    before the first row. `chain.verify` reads each chain inside a transaction of its own."""
    from plan_service.audit import chain

    rows, holdable = chain._rows, []

    def watched(model, number):
        for n, values in enumerate(rows(model, number)):
            if n == 0:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT bool_or(is_holdable) FROM pg_cursors")
                    holdable.append(cursor.fetchone()[0])
            yield values

    from django.db import transaction

    from tests.audit.helpers import access_row

    with transaction.atomic():  # a committed row, so that there is a chain to read
        chain.append([access_row()], key="verify-streams")
    monkeypatch.setattr(chain, "_rows", watched)
    assert not connection.in_atomic_block
    assert chain.verify(AccessEvent).ok
    assert holdable
    assert not any(holdable), holdable


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit/access-log/export.csv/",
        "/api/v1/audit/access-log/export.fhir/",
        "/api/v1/audit/disclosures/export.fhir/",
    ],
)
def test_the_auditors_exports_hold_nothing_open_while_they_are_sent(live_db, monkeypatch, url):
    """An export is sent after its view has returned, with no transaction around it, and under
    ASGI (production's uvicorn workers) in pieces made in the request's thread as the body is
    sent. Each page is one short query after the last (audit/api/views.py `_pages`): between
    pieces no transaction, no cursor is open; a cursor outside a transaction would be declared
    WITH HOLD (PostgreSQL copies the whole result first), and a transaction kept open across
    pieces would be left open, locks and all, by an error between them. Both servers send the
    same bytes."""
    from asgiref.sync import async_to_sync, sync_to_async
    from django.db import transaction
    from django.test import AsyncClient

    from plan_service.audit import chain
    from plan_service.audit.api import views
    from tests.audit.helpers import access_row, disclosure_row

    monkeypatch.setattr(views, "EXPORT_PAGE", 2)
    auditor = factories.professional("auditor")
    ours = {"actor_organization_id": auditor.organization_id}
    with transaction.atomic():  # rows in the auditor's scope, committed
        chain.append([access_row(**ours) for _ in range(5)], key="export-pages")
        chain.append([disclosure_row(**ours) for _ in range(5)], key="export-pages")
    seen: list[tuple[bool, int]] = []

    def look() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors")
            seen.append((connection.in_atomic_block, cursor.fetchone()[0]))

    (header,) = factories.token_header(auditor.user).values()
    url += "?action=read" if "access-log" in url else ""  # not the first export's own rows
    wsgi = Client().get(url, HTTP_AUTHORIZATION=header)
    assert wsgi.status_code == 200
    assert not wsgi.is_async
    sent = []
    for piece in wsgi.streaming_content:
        look()
        sent.append(piece)

    async def asgi_body() -> list[bytes]:
        response = await AsyncClient().get(url, headers={"Authorization": header})
        assert response.status_code == 200
        assert response.is_async  # streamed by the server, not read whole first
        pieces = []
        async for piece in response.streaming_content:
            await sync_to_async(look)()
            pieces.append(piece)
        return pieces

    assert async_to_sync(asgi_body)() == sent
    assert len(sent) >= 4  # the opening and three pages of two rows: really in pieces
    assert seen
    assert set(seen) == {(False, 0)}
