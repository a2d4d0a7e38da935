"""Concurrent writers on real PostgreSQL: one open plan per family, and no lost update.

Threads each use their own database connection and Django's test client (the whole request
stack), on committed data (`live_db`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from plan_service import policy
from plan_service.plans import visibility
from plan_service.plans.models import Goal, Plan
from tests import factories
from tests.conftest import Api

# How long a writer keeps retrying. The threads are joined for longer than this, so the test never
# reads the result while a writer is still at work (a join that gave up earlier once read the goal
# before the last writer's accepted write, and the thread outlived the test's database).
WRITER_DEADLINE = 240


def run_together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Start every worker at the same moment; return their results in order."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def wrap(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WRITER_DEADLINE + 60)
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not stuck, f"workers {stuck} still running after {WRITER_DEADLINE + 60} s"
    return results


def test_two_simultaneous_creates_give_one_plan_and_one_409(live_db):
    lead = factories.professional()
    family = factories.family()
    family.created_by = lead.user
    family.save()
    clients = [Api(lead.user), Api(lead.user)]
    results = run_together(
        [
            lambda c=c: c.post("/api/v1/plans/", {"family": str(family.pk), "statute": "LSL §30"})
            for c in clients
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [getattr(r, "content", r) for r in results]
    assert Plan.objects.filter(family=family).count() == 1


@pytest.mark.parametrize("writers", [2, 8, 32])
def test_read_modify_write_loses_no_update(live_db, writers):
    """Each writer reads the goal, appends its mark to the evidence and writes with If-Match,
    retrying on 412. Every accepted write must survive, in version order."""
    lead = factories.professional()
    plan = factories.plan(lead)
    goal = (
        Api(lead.user)
        .post(
            f"/api/v1/plans/{plan.pk}/goals/",
            {
                "category": "general",
                "title": "shared",
                "desired_outcome": "o",
                "evidence": "",
            },
        )
        .json()
    )
    url = f"/api/v1/plans/{plan.pk}/goals/{goal['id']}/"
    tally: Counter[str] = Counter()
    lock = threading.Lock()

    def writer(n: int) -> list[int]:
        client = Api(lead.user)
        accepted = []
        # Retry until accepted: under load a writer may lose many rounds in a row (each round
        # some other writer wins), so the bound is time, not a count of attempts.
        deadline = time.monotonic() + WRITER_DEADLINE
        rounds = 0
        while time.monotonic() < deadline:
            rounds += 1
            current = client.get(url)
            body = current.json()
            response = client.patch(
                url, {"evidence": body["evidence"] + f"[{n}]"}, HTTP_IF_MATCH=current["ETag"]
            )
            with lock:
                tally[str(response.status_code)] += 1
            if response.status_code == 200:
                accepted.append(response.json()["version"])
                return accepted
            assert response.status_code == 412, response.content
            # Back off with jitter, as a well-behaved client does, so no writer starves.
            time.sleep(random.uniform(0, min(0.5, 0.02 * rounds)))
        return accepted

    results = run_together([lambda n=n: writer(n) for n in range(writers)])
    assert not [r for r in results if isinstance(r, Exception)], results
    starved = [n for n, r in enumerate(results) if not r]
    assert not starved, f"writers {starved} never got a write accepted in {WRITER_DEADLINE} s"
    final = Goal.objects.get(pk=goal["id"])
    marks = [f"[{n}]" for n in range(writers)]
    assert sorted(final.evidence.replace("]", "]\n").split()) == sorted(marks)
    assert final.version == 1 + writers
    assert tally["200"] == writers
    assert set(tally) <= {"200", "412"}
    history = final.history.filter(history_type="~").count()
    assert history == writers
    print(f"writers={writers} accepted={tally['200']} stale_412={tally['412']} errors=0")


def test_a_version_never_counts_a_write_newer_than_the_plan_row_it_was_read_with(live_db):
    """The race behind a lost update, made deterministic: a reader's access (and so the plan
    body) is read, then another transaction's change commits, then the reader's versions are
    computed. They must describe what the reader was given, not the newer state: an ETag newer
    than its body lets a write based on that body pass If-Match and overwrite the change it
    never saw. The reader's own writes still count (a restore's answer shows its version)."""
    lead = factories.professional()
    plan = factories.plan(lead)
    client = Api(lead.user)
    goal = client.post(
        f"/api/v1/plans/{plan.pk}/goals/",
        {"category": "general", "title": "shared", "desired_outcome": "o"},
    ).json()
    url = f"/api/v1/plans/{plan.pk}/goals/{goal['id']}/"
    read_before = policy.plan_access(lead.user, Plan.objects.get(pk=plan.pk))
    body_before = client.get(url)

    def other_writer():  # its own thread, connection and transaction
        return Api(lead.user).patch(url, {"title": "changed"}, HTTP_IF_MATCH=body_before["ETag"])

    [changed] = run_together([other_writer])
    assert changed.status_code == 200, changed.content

    late = visibility.reader_view(read_before)
    assert late.version == body_before.json()["plan_version"]
    assert late.item_version("goal", goal["id"]) == body_before.json()["version"]
    fresh = visibility.reader_view(policy.plan_access(lead.user, Plan.objects.get(pk=plan.pk)))
    assert fresh.version == late.version + 1
    assert fresh.item_version("goal", goal["id"]) == late.item_version("goal", goal["id"]) + 1
    # A write based on the late (old) version is refused, and the change survives.
    stale = client.patch(url, {"title": "overwrite"}, HTTP_IF_MATCH=body_before["ETag"])
    assert stale.status_code == 412
    assert Goal.objects.get(pk=goal["id"]).title == "changed"


def test_a_store_never_waits_for_another_transactions_row(live_db):
    """A class's state is a cache: storing it must not wait for a row another transaction
    holds (writes store after their log append holds its chain's lock, reads before theirs:
    waiting could close a circle). The later store gives up and stores nothing."""
    from django.db import connection, transaction

    from plan_service.plans.models import ReaderVersions

    lead = factories.professional()
    plan = factories.plan(lead, factories.family())
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                visibility._store_state(
                    plan.pk, "class", visibility.ClassState(5, [1, 5], None, {})
                )
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            started = time.monotonic()
            visibility._store_state(plan.pk, "class", visibility.ClassState(6, [1, 5, 6], None, {}))
            assert time.monotonic() - started < 1.5
    finally:
        release.set()
        thread.join(10)
    assert ReaderVersions.objects.get(plan=plan, visibility="class").plan_version == 5
