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
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_ceiling"
#: The history of the write reference's rows (`ceiling_write`): one row per version.
HISTORY_TABLE = "bench_ceiling_history"
#: The same, with documents the size of a typical plan's whole-plan document (tens of KB).
DOCUMENT_TABLE = "bench_ceiling_document"


def _doc(doc_id: uuid.UUID) -> str:
    """The ceiling row's document (its JSON text); Http404 when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT doc FROM {TABLE} WHERE id = %s", [doc_id])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        raise Http404
    return str(row[0])


def ceiling(request: HttpRequest, doc_id: uuid.UUID) -> JsonResponse:
    """Fetch one row by primary key and answer its document as JSON."""
    return JsonResponse(json.loads(_doc(doc_id)))


def ceiling_logged(request: HttpRequest, doc_id: uuid.UUID) -> JsonResponse:
    """The ceiling plus the one thing every read must do: append an access-log row.

    One transaction, the row read, one row appended to the hash chain by the product's own
    `chain.append` (lock, head, insert), then the answer: the least a logged read can cost.
    """
    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    request_id = getattr(request, "request_id", "") or uuid.uuid4().hex
    with transaction.atomic():
        doc = _doc(doc_id)
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
    return JsonResponse(json.loads(doc))


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


def _log_rows(request_id: str, doc_id: uuid.UUID, rows: int, action: str) -> None:
    """Append `rows` access-log rows in one call of the product's `chain.append_values`, shaped
    like a plan list's (one row per person, four people per object, each with their own
    subject, family and object): what the law asks of a request that touches that many people.
    """
    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent

    objects = [uuid.uuid4() for _ in range((rows + 3) // 4)]
    values = [
        {
            "action": action,
            "outcome": AccessEvent.Outcome.SUCCESS,
            "actor_kind": "benchmark",
            "subject_id": uuid.uuid4(),
            "family_id": objects[n // 4],
            "plan_id": objects[n // 4],
            "object_type": "bench-ceiling",
            "object_id": str(doc_id),
            "object_version": n // 4,
            "result_count": rows,
            "request_id": request_id,
            "purpose": "benchmark",
            "legal_basis": "benchmark",
        }
        for n in range(rows)
    ]
    chain.append_values(AccessEvent, values, key=request_id)


def ceiling_logged_rows(request: HttpRequest, doc_id: uuid.UUID, rows: int) -> JsonResponse:
    """The ceiling plus `rows` access-log rows in one append: the least a read that shows data
    of `rows` people (a plan list's page: one row per person per plan) can cost.

    Set against "ceiling + log" it shows what the law's rows alone leave of a target ratio.
    """
    if not 1 <= rows <= 1000:
        raise Http404
    request_id = getattr(request, "request_id", "") or uuid.uuid4().hex
    with transaction.atomic():
        doc = _doc(doc_id)
        _log_rows(request_id, doc_id, rows, "search")
    return JsonResponse(json.loads(doc))


@csrf_exempt
@require_POST
def ceiling_write(request: HttpRequest, doc_id: uuid.UUID, rows: int) -> JsonResponse:
    """The least a versioned, logged write can cost: in one transaction, the row locked and
    changed (its version up by one), its history row, and `rows` access-log rows (one per
    person the change concerns), then the new document as the answer. No authentication,
    validation, version check, policy or notification: those are the product's own work.
    """
    if not 1 <= rows <= 1000:
        raise Http404
    request_id = getattr(request, "request_id", "") or uuid.uuid4().hex
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET doc = jsonb_set(doc, '{{version}}', "  # noqa: S608
                "to_jsonb((doc->>'version')::int + 1)) WHERE id = %s RETURNING doc",
                [doc_id],
            )
            row = cursor.fetchone()
            if row is None:
                raise Http404
            cursor.execute(
                f"INSERT INTO {HISTORY_TABLE} (doc_id, at, doc) VALUES (%s, now(), %s)",  # noqa: S608
                [doc_id, row[0]],
            )
        _log_rows(request_id, doc_id, rows, "update")
    return JsonResponse(json.loads(row[0]))


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
        if table == TABLE:
            cursor.execute(f"DROP TABLE IF EXISTS {HISTORY_TABLE}")
            cursor.execute(
                f"CREATE TABLE {HISTORY_TABLE} (id bigserial PRIMARY KEY, doc_id uuid NOT NULL, "
                "at timestamptz NOT NULL, doc jsonb NOT NULL)"
            )
            cursor.execute(f"CREATE INDEX ON {HISTORY_TABLE} (doc_id, at)")
    return ids
