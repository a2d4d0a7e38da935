"""Audit API: the auditor's queries, chain verification, and the family's access log."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.viewsets import PlanScopedMixin, PolicyViewSet
from plan_service.audit import chain, selectors
from plan_service.audit.api import serializers as s
from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.audit.services import record_access
from plan_service.plans.api.views import ERRORS, log_plan_read

Act = AccessEvent.Action


class AccessLogFilter(django_filters.FilterSet):
    subject = django_filters.UUIDFilter(field_name="subject_id")
    actor = django_filters.NumberFilter(field_name="actor_user_id")
    organization = django_filters.UUIDFilter(field_name="actor_organization_id")
    plan = django_filters.UUIDFilter(field_name="plan_id")
    action = django_filters.ChoiceFilter(choices=AccessEvent.Action.choices)
    outcome = django_filters.ChoiceFilter(choices=AccessEvent.Outcome.choices)
    since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lt")

    class Meta:
        model = AccessEvent
        fields: list[str] = []


class DisclosureFilter(django_filters.FilterSet):
    subject = django_filters.UUIDFilter(field_name="subject_id")
    actor = django_filters.NumberFilter(field_name="actor_user_id")
    organization = django_filters.UUIDFilter(field_name="actor_organization_id")
    plan = django_filters.UUIDFilter(field_name="plan_id")
    since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lt")

    class Meta:
        model = Disclosure
        fields: list[str] = []


def _log_log_read(request: Request, object_type: str, count: int) -> None:
    """Reading a log is itself logged (no subject: the query is recorded, not the results)."""
    record_access(
        actor=request.user,
        action=Act.SEARCH,
        subjects=[],
        object_type=object_type,
        query=dict(request.query_params) or None,
        result_count=count,
        purpose="audit",
        legal_basis="supervision",
    )


@extend_schema_view(
    list=extend_schema(
        summary="Query the access log (auditor)", responses={200: s.AccessEventSerializer, **ERRORS}
    )
)
class AuditAccessLogViewSet(PolicyViewSet):
    audit_object_type = "access-log"
    plan_scoped = False
    serializer_class = s.AccessEventSerializer
    filterset_class = AccessLogFilter

    def get_queryset(self) -> QuerySet[AccessEvent]:
        return selectors.access_log_for_auditor(user=self.request.user)

    def list(self, request: Request) -> Response:
        policy.require_model(request.user, policy.is_auditor(request.user))
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        _log_log_read(request, "access-log", len(page))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="Query the disclosure log (auditor)",
        responses={200: s.DisclosureSerializer, **ERRORS},
    )
)
class AuditDisclosureViewSet(PolicyViewSet):
    audit_object_type = "disclosure-log"
    plan_scoped = False
    serializer_class = s.DisclosureSerializer
    filterset_class = DisclosureFilter

    def get_queryset(self) -> QuerySet[Disclosure]:
        return selectors.disclosures_for_auditor(user=self.request.user)

    def list(self, request: Request) -> Response:
        policy.require_model(request.user, policy.is_auditor(request.user))
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        _log_log_read(request, "disclosure-log", len(page))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class AuditVerifyViewSet(PolicyViewSet):
    audit_object_type = "verify"
    plan_scoped = False

    @extend_schema(
        summary="Verify both hash chains (auditor)",
        responses={200: s.VerifySerializer(many=True), **ERRORS},
    )
    def list(self, request: Request) -> Response:
        policy.require_model(request.user, policy.is_auditor(request.user))
        results: list[dict[str, Any]] = []
        for name, model in (("access", AccessEvent), ("disclosure", Disclosure)):
            results.append({"log": name, **chain.verify(model).as_dict()})
        _log_log_read(request, "verify", len(results))
        return Response(results)


@extend_schema_view(
    list=extend_schema(
        summary="Who accessed this family's data (family and lead)",
        responses={200: s.FamilyAccessRowSerializer, **ERRORS},
    )
)
class FamilyAccessLogViewSet(PlanScopedMixin, PolicyViewSet):
    audit_object_type = "access-log"
    serializer_class = s.FamilyAccessRowSerializer

    def get_queryset(self) -> QuerySet[AccessEvent]:
        return selectors.access_log_for_family(access=self.access)

    def list(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        if access.kind == "professional" and access.membership.role != "lead":
            raise policy.PermissionDenied
        page = list(self.paginate_queryset(self.get_queryset()))
        log_plan_read(request, access, action=Act.SEARCH, object_type="access-log")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
