"""Audit API: the auditor's queries and exports, chain verification, and the family's access log.

Reading any log is itself logged before the data leaves: one row per person whose log rows the
request returned (the query is recorded, never the results), or one row without a subject when
the rows concern nobody in particular. Exports stream (CSV, or FHIR AuditEvent in IHE BALP shape)
after that log row is written, so a large export neither sits in memory nor leaves unlogged.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
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


def _csv_stream(fields: list[str], rows: Iterator[Any]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(fields)
    for row in rows:
        yield writer.writerow([_csv_cell(getattr(row, name)) for name in fields])


class AuditLogViewSet(PolicyViewSet):
    """The shared shape of the auditor's two log queries: list, CSV export."""

    policy_actions = {
        "list": policy.AUDITOR,
        "export_csv": policy.AUDITOR,
        "export_fhir": policy.AUDITOR,
    }
    log_model: type[Chained]

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
            self.filter_queryset(self.get_queryset()), chain.last_seqs(self.log_model)
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
            _csv_stream(fields, _streamed(queryset)),
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

    def get_queryset(self) -> QuerySet[AccessEvent]:
        return selectors.access_log_for_auditor(user=self.request.user)

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
        records = (access_record(row) for row in _streamed(queryset))
        return StreamingHttpResponse(
            _bundle_stream(audit_events(records)), content_type=f"{FHIR_JSON}; fhirVersion=4.0"
        )


def _streamed(queryset: QuerySet[Any]) -> Iterator[Any]:
    """The rows through a server-side cursor, inside a transaction of their own.

    An export is sent after its view has returned, outside any transaction; there Django
    declares the cursor WITH HOLD, and PostgreSQL computes and copies the whole result before
    the first row leaves. A client that goes away closes this generator, which ends the
    transaction.
    """
    with transaction.atomic():
        yield from queryset.iterator(chunk_size=2000)


def _bundle_stream(resources: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A collection Bundle written piece by piece, so no export is held in memory whole."""
    yield '{"resourceType":"Bundle","type":"collection","entry":['
    for n, resource in enumerate(resources):
        yield ("," if n else "") + json.dumps({"resource": resource}, separators=(",", ":"))
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

    def get_queryset(self) -> QuerySet[Disclosure]:
        return selectors.disclosures_for_auditor(user=self.request.user)

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
        records = (disclosure_record(row) for row in _streamed(queryset))
        return StreamingHttpResponse(
            _bundle_stream(disclosure_events(records)),
            content_type=f"{FHIR_JSON}; fhirVersion=4.0",
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
