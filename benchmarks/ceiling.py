"""The stack's own ceiling: a bare Django view serving one JSON document from one indexed row.

Same server (gunicorn), same settings and middleware, same database: what is left between this
and a product endpoint is the product's own work (authentication, policy, audit, serialisation).
The table lives only in benchmark databases; `install` creates and fills it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

TABLE = "bench_ceiling"
#: The same, with documents the size of a typical plan's whole-plan document (tens of KB).
DOCUMENT_TABLE = "bench_ceiling_document"


def ceiling(request: HttpRequest, doc_id: uuid.UUID) -> JsonResponse:
    """Fetch one row by primary key and answer its document as JSON."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT doc FROM {TABLE} WHERE id = %s", [doc_id])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        raise Http404
    return JsonResponse(json.loads(row[0]))


def ceiling_logged(request: HttpRequest, doc_id: uuid.UUID) -> JsonResponse:
    """The ceiling plus the one thing every read must do: append an access-log row.

    One transaction, the row read, one row appended to the hash chain by the product's own
    `chain.append` (lock, head, insert), then the answer: the least a logged read can cost.
    """
    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    request_id = getattr(request, "request_id", "") or uuid.uuid4().hex
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT doc FROM {TABLE} WHERE id = %s", [doc_id])  # noqa: S608
            row = cursor.fetchone()
        if row is None:
            raise Http404
        event = AccessEvent(
            action=AccessEvent.Action.READ,
            outcome=AccessEvent.Outcome.SUCCESS,
            actor_kind="benchmark",
            object_type="bench-ceiling",
            object_id=str(doc_id),
            request_id=request_id,
            purpose="benchmark",
        )
        chain.append([event], key=request_id)
    return JsonResponse(json.loads(row[0]))


def ceiling_document(request: HttpRequest, doc_id: uuid.UUID) -> HttpResponse:
    """The ceiling for the whole-plan document: one row by primary key, its text as the answer.

    The stored JSON text is sent as it is (no parse and re-dump), as the product's read model
    does on a hit: the strictest yardstick for that path.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT doc::text FROM {DOCUMENT_TABLE} WHERE id = %s",  # noqa: S608
            [doc_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404
    return HttpResponse(row[0], content_type="application/json")


def ceiling_document_logged(request: HttpRequest, doc_id: uuid.UUID) -> HttpResponse:
    """`ceiling_document` plus one access-log append in one transaction (as `ceiling_logged`)."""
    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    request_id = getattr(request, "request_id", "") or uuid.uuid4().hex
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT doc::text FROM {DOCUMENT_TABLE} WHERE id = %s",  # noqa: S608
                [doc_id],
            )
            row = cursor.fetchone()
        if row is None:
            raise Http404
        event = AccessEvent(
            action=AccessEvent.Action.READ,
            outcome=AccessEvent.Outcome.SUCCESS,
            actor_kind="benchmark",
            object_type="bench-ceiling",
            object_id=str(doc_id),
            request_id=request_id,
            purpose="benchmark",
        )
        chain.append([event], key=request_id)
    return HttpResponse(row[0], content_type="application/json")


def document(size: int, seed: int) -> dict[str, Any]:
    """A JSON document of about `size` bytes shaped like an API answer (keys, strings, ints)."""
    doc: dict[str, Any] = {"id": str(uuid.UUID(int=seed)), "version": seed, "items": []}
    item = {"n": 0, "text": "x" * 40, "status": "in-progress"}
    per_item = len(json.dumps({**item, "n": 99999})) + 2  # the longest, with the separator
    # Measure once, not per item: documents of tens of kilobytes would take quadratic time.
    wanted = max(0, (size - 60 - len(json.dumps(doc))) // per_item)
    doc["items"] = [{**item, "n": n} for n in range(wanted)]
    while len(json.dumps(doc)) < size - 60:
        doc["items"].append({**item, "n": len(doc["items"])})
    pad = size - len(json.dumps(doc)) - len(', "pad": ""')
    doc["pad"] = "p" * max(0, pad)
    return doc


def install(size: int, count: int = 1000, table: str = TABLE) -> list[str]:
    """(Re)create a ceiling table with `count` documents of `size` bytes; return their ids."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(count)]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, doc jsonb NOT NULL)")
        cursor.executemany(
            f"INSERT INTO {table} (id, doc) VALUES (%s, %s::jsonb)",  # noqa: S608
            [(i, json.dumps(document(size, n))) for n, i in enumerate(ids)],
        )
        cursor.execute(f"ANALYZE {table}")
    return ids
