"""Audit API: the auditor's queries and exports, chain verification, and the family's access log.

Reading any log is itself logged before the data leaves: one row per person whose log rows the
request returned (the query is recorded, never the results), or one row without a subject when
the rows concern nobody in particular. Exports stream (CSV, or FHIR AuditEvent in IHE BALP shape)
after that log row is written, so a large export neither sits in memory nor leaves unlogged.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from fhir_export import FHIR_JSON
from fhir_export.auditevent import (
    access_record,
    audit_events,
    disclosure_events,
    disclosure_record,
)
from plan_service import policy
from plan_service.api.schema import ERRORS
from plan_service.api.viewsets import PlanScopedMixin, PolicyViewSet, log_plan_read
from plan_service.audit import chain, selectors
from plan_service.audit.api import serializers as s
from plan_service.audit.filters import AccessLogFilter, DisclosureFilter
from plan_service.audit.models import AccessEvent, Chained, Disclosure
from plan_service.audit.services import record_log_read
from plan_service.plans import selectors as plan_selectors

Act = AccessEvent.Action


def _query(request: Request) -> dict[str, Any] | None:
    return {k: request.query_params.getlist(k) for k in request.query_params} or None


def log_log_read(
    request: Request,
    *,
    object_type: str,
    people: Iterable[tuple[uuid.UUID | None, uuid.UUID | None]],
    result_count: int,
    action: str = Act.SEARCH,
) -> None:
    """Log an auditor's read of log rows (`audit.services.record_log_read`)."""
    record_log_read(
        actor=request.user,
        object_type=object_type,
        people=people,
        result_count=result_count,
        query=_query(request),
        action=action,
    )


def _people_of(rows: Iterable[Chained]) -> list[tuple[uuid.UUID | None, uuid.UUID | None]]:
    return [(row.family_id, row.subject_id) for row in rows]  # type: ignore[attr-defined]


def _csv_cell(value: object) -> object:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    """A file-like object for csv.writer whose write returns the line (Django's recipe)."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(fields: list[str], pages: Iterator[list[Any]]) -> Iterator[str]:
    """The CSV text: the header, then one piece per page of rows."""
    writer = csv.writer(_Echo())
    yield writer.writerow(fields)
    for page in pages:
        yield "".join(
            writer.writerow([_csv_cell(getattr(row, name)) for name in fields]) for row in page
        )


class AuditLogViewSet(PolicyViewSet):
    """The shared shape of the auditor's two log queries: list, CSV export."""

    policy_actions = {
        "list": policy.AUDITOR,
        "export_csv": policy.AUDITOR,
        "export_fhir": policy.AUDITOR,
    }
    log_model: type[Chained]

    def log_rows(self, as_of: dt.datetime | None = None) -> QuerySet[Any]:
        """The rows the auditor may read; with `as_of`, the organisation's plans by then (an
        export's pages keep the scope it was counted with, `policy.auditor_log_scope`)."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        return self.log_rows()

    def list(self, request: Request) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        log_log_read(
            request,
            object_type=self.audit_object_type,
            people=_people_of(page),
            result_count=len(page),
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _export_queryset(self, request: Request) -> QuerySet[Any]:
        """The filtered rows as the log stood now, logged as an export before any of them leave.

        The rows are cut where each chain ended when the export began (`chain.up_to`): they are
        sent after this view has returned, and a row appended in between (by anyone, or this
        export's own log row) would leave with the export without being counted in it, nor its
        person named in the export's log rows.
        """
        queryset = chain.up_to(
            self.filter_queryset(self.log_rows(as_of=timezone.now())),
            chain.last_seqs(self.log_model),
        )
        people = list(queryset.order_by().values_list("family_id", "subject_id").distinct())
        log_log_read(
            request,
            object_type=self.audit_object_type,
            people=people,
            result_count=queryset.count(),
            action=Act.EXPORT,
        )
        return queryset

    @extend_schema(
        summary="Export the queried rows as CSV (auditor)",
        responses={(200, "text/csv"): OpenApiTypes.STR, **ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="export.csv", url_name="export-csv")
    def export_csv(self, request: Request) -> StreamingHttpResponse:
        queryset = self._export_queryset(request)
        fields = list(self.get_serializer_class().Meta.fields)
        response = StreamingHttpResponse(
            _body(request, _csv_stream(fields, _pages(queryset))),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{self.audit_object_type}.csv"'
        return response


@extend_schema_view(
    list=extend_schema(
        summary="Query the access log (auditor)", responses={200: s.AccessEventSerializer, **ERRORS}
    )
)
class AuditAccessLogViewSet(AuditLogViewSet):
    audit_object_type = "access-log"
    log_model = AccessEvent
    serializer_class = s.AccessEventSerializer
    filterset_class = AccessLogFilter

    def log_rows(self, as_of: dt.datetime | None = None) -> QuerySet[AccessEvent]:
        return selectors.access_log_for_auditor(user=self.request.user, as_of=as_of)

    @extend_schema(
        summary="Export the queried rows as FHIR AuditEvent, IHE BALP shape (auditor)",
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="A Bundle (collection) of AuditEvent"
            ),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["get"], url_path="export.fhir", url_name="export-fhir")
    def export_fhir(self, request: Request) -> StreamingHttpResponse:
        queryset = self._export_queryset(request)
        events = (audit_events(access_record(row) for row in page) for page in _pages(queryset))
        return StreamingHttpResponse(
            _body(request, _bundle_stream(events)), content_type=f"{FHIR_JSON}; fhirVersion=4.0"
        )


#: Rows per page of an export: one short query each, rendered whole and sent as one piece.
EXPORT_PAGE = 2000
#: The order of an export, (recorded_at, chain, seq) being unique: the pages' keyset.
EXPORT_ORDER = ("-recorded_at", "chain", "-seq")


def _pages(queryset: QuerySet[Any]) -> Iterator[list[Any]]:
    """The rows in pages of `EXPORT_PAGE`, each page one query that continues after the last
    row of the one before (a keyset), so no query, cursor or transaction stays open between
    pages while they are sent. The rows are a cut of an append-only log (`chain.up_to`), so the
    pages together are the rows as they stood when the export began."""
    ordered = queryset.order_by(*EXPORT_ORDER)
    page = list(ordered[:EXPORT_PAGE])
    while page:
        yield page
        if len(page) < EXPORT_PAGE:
            return
        last = page[-1]
        at = last.recorded_at
        after = (
            Q(recorded_at__lt=at)
            | Q(recorded_at=at, chain__gt=last.chain)
            | Q(recorded_at=at, chain=last.chain, seq__lt=last.seq)
        )
        # The plain bound is what lets the page start its index scan at the last row instead
        # of reading every row sent before (an OR alone is no start for an ordered scan).
        page = list(ordered.filter(Q(recorded_at__lte=at) & after)[:EXPORT_PAGE])


def _body(request: Request, pieces: Iterator[str]) -> Iterator[str] | AsyncIterator[str]:
    """An export's body as the server can stream it.

    Under ASGI (production: uvicorn workers) Django reads a synchronous iterator to its end
    before it sends anything, so the whole export would sit in the worker's memory; there each
    piece is made in the request's thread (`sync_to_async`) and sent as soon as it is made.
    Under WSGI (the test client, the benchmarks' sync workers) the pieces go as they are.
    """
    if not isinstance(request._request, ASGIRequest):
        return pieces

    def release() -> None:
        """Give the request's connection back (to the pool) between pages: a slow reader must
        not hold one while its page is sent, and an error there must not keep it for good
        (Django returns it only when the response is closed, which an error skips)."""
        if not connection.in_atomic_block:
            connection.close()

    def next_piece() -> str | None:
        try:
            return next(pieces, None)
        finally:
            release()

    def close() -> None:
        try:
            pieces.close()  # type: ignore[attr-defined]
        finally:
            release()

    async def streamed() -> AsyncIterator[str]:
        try:
            while (piece := await sync_to_async(next_piece, thread_sensitive=True)()) is not None:
                yield piece
        finally:
            await sync_to_async(close, thread_sensitive=True)()

    return streamed()


def _bundle_stream(pages: Iterable[Iterable[dict[str, Any]]]) -> Iterator[str]:
    """A collection Bundle written a page at a time, so no export is held in memory whole."""
    yield '{"resourceType":"Bundle","type":"collection","entry":['
    separator = ""
    for page in pages:
        text = ",".join(json.dumps({"resource": r}, separators=(",", ":")) for r in page)
        if text:
            yield separator + text
            separator = ","
    yield "]}"


@extend_schema_view(
    list=extend_schema(
        summary="Query the disclosure log (auditor)",
        responses={200: s.DisclosureSerializer, **ERRORS},
    )
)
class AuditDisclosureViewSet(AuditLogViewSet):
    audit_object_type = "disclosure-log"
    log_model = Disclosure
    serializer_class = s.DisclosureSerializer
    filterset_class = DisclosureFilter

    def log_rows(self, as_of: dt.datetime | None = None) -> QuerySet[Disclosure]:
        return selectors.disclosures_for_auditor(user=self.request.user, as_of=as_of)

    @extend_schema(
        summary="Export the queried disclosures as FHIR AuditEvent, BALP PrivacyDisclosure "
        "(auditor)",
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="A Bundle (collection) of AuditEvent"
            ),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["get"], url_path="export.fhir", url_name="export-fhir")
    def export_fhir(self, request: Request) -> StreamingHttpResponse:
        queryset = self._export_queryset(request)
        events = (
            disclosure_events(disclosure_record(row) for row in page) for page in _pages(queryset)
        )
        return StreamingHttpResponse(
            _body(request, _bundle_stream(events)), content_type=f"{FHIR_JSON}; fhirVersion=4.0"
        )


class AuditVerifyViewSet(PolicyViewSet):
    audit_object_type = "verify"
    schema_model = AccessEvent
    policy_actions = {"list": policy.AUDITOR}
    pagination_class = None  # one result per log, never paged

    @extend_schema(
        summary="Verify both hash chains (auditor)",
        responses={200: s.VerifySerializer(many=True), **ERRORS},
    )
    def list(self, request: Request) -> Response:
        results: list[dict[str, Any]] = []
        for name, model in chain.LOGS.items():
            results.append({"log": str(name), **chain.verify(model).as_dict()})
        log_log_read(request, object_type="verify", people=[], result_count=len(results))
        return Response(results)


@extend_schema_view(
    list=extend_schema(
        summary="Who accessed this family's data (family and lead)",
        responses={200: s.FamilyAccessRowSerializer, **ERRORS},
    )
)
class FamilyAccessLogViewSet(PlanScopedMixin, PolicyViewSet):
    audit_object_type = "access-log"
    policy_actions = {"list": policy.FAMILY_ACCESS_LOG}
    schema_model = AccessEvent
    serializer_class = s.FamilyAccessRowSerializer

    def get_queryset(self) -> QuerySet[AccessEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AccessEvent.objects.none()
        return selectors.access_log_for_family(
            access=self.access,
            visible_items=plan_selectors.visible_item_ids(access=self.access),
        )

    def list(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        page = list(self.paginate_queryset(self.get_queryset()))
        # A child sees only the rows about themselves, so only their data is touched.
        person = policy.reads_only_about(access)
        own = [person] if person is not None else None
        log_plan_read(
            request,
            access,
            action=Act.SEARCH,
            object_type="access-log",
            subjects=own,
            result_count=len(page),
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
