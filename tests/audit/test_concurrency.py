"""Concurrent writers append to the chains without forks or gaps (committed rows, PostgreSQL).

The writers are threads with their own database connections, so their appends really commit and
really contend for the chain locks, while the test itself keeps the usual rolled-back
transaction (a `transaction=True` test is impossible: its flush TRUNCATEs the log tables, which
the trigger refuses). The rows the writers committed are removed at the end by the owner,
switching the delete trigger off in that one transaction, leaving the test database as found.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, connections, transaction
from django.db.models import Max

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent
from tests.audit.helpers import access_row, key_for_chain
from tests.harness.db_roles import in_own_connection, owner_powers

pytestmark = pytest.mark.django_db

WRITERS = 8
APPENDS_PER_WRITER = 30
MARK = "concurrency-"


def _committed_rows() -> int:
    return in_own_connection(lambda: AccessEvent.objects.count())


def _remove_our_rows() -> None:
    def purge() -> None:
        # The owner, switching the trigger off for this one transaction: the purge window no
        # longer lets anyone delete recent rows.
        trigger = "audit_accessevent_no_change"
        with transaction.atomic(), owner_powers(), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE audit_accessevent DISABLE TRIGGER {trigger}")
            cursor.execute("DELETE FROM audit_accessevent WHERE request_id LIKE %s", [MARK + "%"])
            cursor.execute(f"ALTER TABLE audit_accessevent ENABLE ALWAYS TRIGGER {trigger}")

    in_own_connection(purge)


def _chain_heads() -> dict[int, int]:
    def heads() -> dict[int, int]:
        rows = AccessEvent.objects.values("chain").annotate(top=Max("seq")).order_by()
        return {r["chain"]: r["top"] for r in rows}

    return in_own_connection(heads)


def test_eight_concurrent_writers_leave_no_fork_and_no_gap():
    # The database may already hold committed rows (--reuse-db, live_db tests): the writers'
    # rows must continue each chain from its head, and leave the rows found untouched.
    committed, heads = _committed_rows(), _chain_heads()
    hot = key_for_chain(0)  # half the appends fight over one chain
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []
    written: Counter[str] = Counter()
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS_PER_WRITER):
                size = 1 + (n + i) % 3  # one to three people per request
                key = hot if i % 2 else str(uuid.uuid4())
                rows = [access_row(request_id=f"{MARK}{n}-{i}") for _ in range(size)]
                with transaction.atomic():
                    chain.append(rows, key=key)
                with lock:
                    written["rows"] += size
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert not any(t.is_alive() for t in threads)

        rows = list(AccessEvent.objects.filter(request_id__startswith=MARK).values("chain", "seq"))
        assert (
            len(rows)
            == written["rows"]
            == sum((1 + (n + i) % 3) for n in range(WRITERS) for i in range(APPENDS_PER_WRITER))
        )
        by_chain: dict[int, list[int]] = {}
        for row in rows:
            by_chain.setdefault(row["chain"], []).append(row["seq"])
        for number, seqs in by_chain.items():
            start = heads.get(number, 0) + 1
            # no gap, no fork (duplicate), right after the rows found
            assert sorted(seqs) == list(range(start, start + len(seqs)))
        assert len(by_chain[0]) >= written["rows"] // 3  # the hot chain really was contended
        result = chain.verify(AccessEvent)
        assert result.ok, result.as_dict()
        assert result.rows_checked == committed + written["rows"]
    finally:
        for thread in threads:
            thread.join(timeout=120)
        _remove_our_rows()
    assert _committed_rows() == committed
