"""`fhir_bulk_export --workers N`: chunks exported by forked worker processes (`plans.bulk`).

The workers have their own connections, so these tests commit their data (`live_db`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError
from django.db import transaction

from fhir_export.ndjson import BulkWriter
from plan_service.audit import chain
from plan_service.audit.models import Disclosure
from plan_service.participants.models import Person
from plan_service.plans import bulk, export
from tests import factories
from tests.fhir_export.test_bulk import run as run_export


@pytest.fixture
def region(live_db) -> dict:
    """A lead of five plans, committed; one family has two plans (a completed one and an open
    one), so its people must still be written once whichever worker exported which."""
    lead = factories.professional("public_health_nurse")
    families = [factories.family(children=1 + i % 2, guardians=i % 3) for i in range(4)]
    led = [factories.plan(lead, families[0], status="completed")]
    led += [factories.plan(lead, family) for family in families]
    return {"lead": lead, "led": led}


def run(region: dict, out: Path, *extra: str) -> None:
    """`fhir_bulk_export` of the region's lead, one plan per chunk (so workers share the run)."""
    run_export(region, out, "--chunk-size", "1", *extra)


def test_workers_write_the_same_files_and_log_every_person_once_per_run(region, tmp_path):
    run(region, tmp_path / "one")
    run(region, tmp_path / "two", "--workers", "3")
    one = sorted(p.name for p in (tmp_path / "one").glob("*.ndjson"))
    assert one == sorted(p.name for p in (tmp_path / "two").glob("*.ndjson"))
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    for plan in region["led"]:
        people = sorted(Person.objects.filter(family=plan.family).values_list("pk", flat=True))
        rows = Disclosure.objects.filter(plan_id=plan.pk)
        assert sorted(r.subject_id for r in rows) == sorted(people * 2)  # one row per run
    assert chain.verify(Disclosure).ok


def test_a_chunk_failing_in_a_worker_ends_the_run_and_leaves_no_files(
    region, tmp_path, monkeypatch
):
    """The worker's exception reaches the command, which deletes what it wrote; the failed
    chunk's disclosure rows roll back with it (other chunks may have committed theirs)."""
    doomed = region["led"][2].pk
    real = export.plan_export_many_to

    def failing(*, plan_ids, **kwargs):
        if doomed in plan_ids:
            raise OSError("disk full")
        return real(plan_ids=plan_ids, **kwargs)

    monkeypatch.setattr(export, "plan_export_many_to", failing)  # forked workers inherit it
    with pytest.raises(OSError, match="disk full"):
        run(region, tmp_path, "--workers", "2")
    assert not list(tmp_path.glob("*.ndjson"))
    assert not Disclosure.objects.filter(plan_id=doomed).exists()


def test_a_worker_killed_mid_chunk_fails_the_run_instead_of_hanging(region, tmp_path, monkeypatch):
    """A worker that dies (killed, out of memory) fails the run with BrokenProcessPool, files
    deleted; its chunk's transaction died with it, so nothing of that chunk is logged."""
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    doomed = region["led"][3].pk
    real = export.plan_export_many_to

    def dying(*, plan_ids, **kwargs):
        if doomed in plan_ids:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(plan_ids=plan_ids, **kwargs)

    monkeypatch.setattr(export, "plan_export_many_to", dying)
    with pytest.raises(BrokenProcessPool):
        run(region, tmp_path, "--workers", "2")
    assert not list(tmp_path.glob("*.ndjson"))
    assert not Disclosure.objects.filter(plan_id=doomed).exists()


#: The chunks this process has run (each forked worker starts with its own empty copy).
_CHUNKS_HERE: list[object] = []


def _backend_pid(job, plan_ids):
    """A stand-in chunk export (module level: the executor pickles it by name): the worker's
    database session, or 0 when it starts with a connection inherited from the parent (not
    used: two processes on one socket would hang, not fail)."""
    import uuid

    from django.db import connection

    first = not _CHUNKS_HERE
    _CHUNKS_HERE.append(plan_ids)
    pid = 0
    if connection.connection is None or not first:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    return [(uuid.uuid4(), [("pid", str(pid), b"")])]


def test_each_worker_has_its_own_database_session(live_db, monkeypatch):
    """The executor forks its workers at the first chunk, after this process has opened a
    connection again to read the plan list; a worker that used that inherited connection would
    interleave its transactions with this process's on one socket."""
    import uuid

    from django.db import connection

    def batches():
        for n in range(4):
            connection.ensure_connection()  # as the streamed plan list does
            yield [uuid.uuid4()] if n else []

    monkeypatch.setattr(bulk, "_export_chunk", _backend_pid)
    job = bulk._Job(actor_id=0, recipient_id=None, label="x", language="fi")
    pids = {int(lines[0][1]) for chunk in bulk._chunks(job, batches(), 2) for _f, lines in chunk}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
    assert pids
    assert 0 not in pids  # no worker started with the parent's connection
    assert own not in pids


@pytest.mark.django_db
def test_a_plan_that_left_the_exporters_reach_during_the_run_is_left_out(tmp_path):
    """The plan list is decided when the run starts; a plan the actor may no longer export by
    the time its chunk comes (here: another lead's plan) is skipped, not exported, not logged,
    and the rest of the chunk goes on."""
    lead = factories.professional("public_health_nurse")
    mine = factories.plan(lead, factories.family(children=1, guardians=1))
    other = factories.plan(
        factories.professional("child_protection_social_worker"), factories.family(children=1)
    )
    job = bulk._Job(actor_id=lead.user.pk, recipient_id=None, label="x", language="fi")
    exported = bulk._export_chunk(job, [other.pk, mine.pk])
    assert [family for family, _lines in exported] == [mine.family_id]
    assert not Disclosure.objects.filter(plan_id=other.pk).exists()
    assert Disclosure.objects.filter(plan_id=mine.pk).count() == 2  # a child and a guardian
    assert bulk._export_chunk(job, [other.pk]) == []


@pytest.mark.django_db
def test_workers_are_refused_inside_a_transaction(tmp_path):
    """Forked workers cannot see this transaction's rows: refused before anything is read."""
    lead = factories.professional("public_health_nurse")
    plan = factories.plan(lead, factories.family(children=1, guardians=1))
    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a transaction"):
        bulk.export_all(actor=lead.user, recipient="x", writer=BulkWriter(tmp_path), workers=2)
    assert not Disclosure.objects.filter(plan_id=plan.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["0", "65", "-1"])
def test_a_number_of_workers_out_of_range_is_refused(workers, tmp_path):
    lead = factories.professional("public_health_nurse")
    with pytest.raises(CommandError, match="workers"):
        run({"lead": lead}, tmp_path, "--workers", workers)
