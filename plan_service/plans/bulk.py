"""Bulk FHIR export: every plan an actor may export, for a recipient, as NDJSON files.

`export_all` takes the actor's exportable plans in chunks (`export.export_plan_batches`: one
query, streamed) and exports each chunk with `export.plan_export_many_to`: one transaction per
chunk, its plans share-locked, its disclosure and access rows committed with it. The chunk's
plans come back as NDJSON lines (`fhir_export.ndjson.bundle_lines`) and go to a `BulkWriter` in
the list's order (by family), so a family's plans still come together and each person is
written once.

With `workers` > 1 the chunks are exported by that many forked worker processes, each with its
own database connection, while this process reads the list and writes the files. Results are
taken in the order the chunks were read, and at most two chunks per worker are in flight, so
memory stays flat however many plans there are and the files are byte for byte those of one
process. A chunk that fails (a plan left the actor's reach, a broken connection) raises here
and ends the run; chunks other workers had already committed stay logged as disclosed, as
chunks before the failure always did (the caller deletes a failed run's files: the log errs on
the side of saying more left, never less). Workers read committed data only: the function
refuses to fork inside a transaction.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import translation

from fhir_export.ndjson import BulkWriter, bundle_lines
from plan_service import policy
from plan_service.participants.models import Recipient
from plan_service.plans import export

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

#: One plan's family id and its NDJSON lines (type, id, line).
PlanLines = tuple[uuid.UUID, list[tuple[str, str, bytes]]]


@dataclass(frozen=True)
class _Job:
    """What a worker needs to export a chunk (plain values: it crosses a process boundary)."""

    actor_id: object
    recipient_id: object | None  # a registry recipient, or
    label: str  # the disclosure log's label when there is none
    language: str


def _export_chunk(job: _Job, plan_ids: list[uuid.UUID]) -> list[PlanLines]:
    """Export one chunk in its own transaction; each plan's family and NDJSON lines, in order.

    The list of plans was decided when the run started: a plan the actor may no longer export
    (their membership ended, the plan was removed) is left out here rather than failing the
    run, and is not logged as disclosed. The export itself checks every plan again, under its
    share lock.
    """
    actor = get_user_model().objects.get(pk=job.actor_id)
    still = set(
        policy.plans_for(actor, policy.Action.EXPORT)
        .filter(pk__in=plan_ids)
        .values_list("pk", flat=True)
    )
    plan_ids = [plan_id for plan_id in plan_ids if plan_id in still]
    if not plan_ids:
        return []
    recipient: Recipient | str = job.label
    if job.recipient_id is not None:
        recipient = Recipient.objects.select_related("organization").get(pk=job.recipient_id)
    out: list[PlanLines] = []

    def sink(result: export.Export) -> None:
        out.append((result.snapshot.family_id, bundle_lines(result.bundle)))

    with translation.override(job.language):
        export.plan_export_many_to(actor=actor, plan_ids=plan_ids, sink=sink, recipient=recipient)
    return out


#: In a forked worker, the parent's connections it let go of (see `_own_connections`).
_INHERITED: list[object] = []


def _own_connections() -> None:
    """In a forked worker, before any query: forget the connections inherited from the parent,
    so Django opens the worker's own. They are not closed (that would end the parent's session
    on the socket both processes hold) but kept referenced until the worker exits, so they are
    never finalised here either."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
            conn.connection = None


def _chunks(
    job: _Job, batches: Iterable[list[uuid.UUID]], workers: int
) -> Iterator[list[PlanLines]]:
    """Each batch exported, in the order of `batches`, here or by `workers` processes."""
    if workers <= 1:
        for plan_ids in batches:
            yield _export_chunk(job, plan_ids)
        return
    if connection.in_atomic_block:
        raise RuntimeError("A bulk export over several workers must not run inside a transaction.")
    connections.close_all()
    context = multiprocessing.get_context("fork")
    # An executor, not a Pool: a worker that dies (killed, out of memory) fails its chunk with
    # BrokenProcessPool instead of leaving the run waiting for it forever. It forks its workers
    # when chunks are first submitted, after this process has opened a connection again to
    # read `batches`: each worker lets go of that connection before its first chunk.
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_own_connections
    ) as pool:
        pending: deque[Future[list[PlanLines]]] = deque()
        try:
            for plan_ids in batches:
                pending.append(pool.submit(_export_chunk, job, plan_ids))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()  # chunks not started never start; running ones finish


def export_all(
    *,
    actor: AbstractBaseUser,
    recipient: Recipient | str,
    writer: BulkWriter,
    chunk_size: int = 100,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export every plan `actor` may export, as `recipient` may receive it (a registry
    recipient; or a label, for the actor's own view), into `writer`; return how many plans.

    `progress` is told the number of plans of each chunk written.
    """
    job = _Job(
        actor_id=actor.pk,
        recipient_id=recipient.pk if isinstance(recipient, Recipient) else None,
        label=recipient if isinstance(recipient, str) else "",
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    batches = (
        [plan_id for _, plan_id in batch]
        for batch in export.export_plan_batches(user=actor, chunk_size=chunk_size)
    )
    plans = 0
    for chunk in _chunks(job, batches, workers):
        for family_id, lines in chunk:
            writer.add_lines(family_id, lines)
        plans += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return plans
