"""History API: versions, the plan as it stood (?as_of= or ?version=), and diffs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.schema import ERRORS
from plan_service.api.viewsets import PlanScopedMixin, PolicyViewSet, log_plan_read
from plan_service.audit.models import AccessEvent
from plan_service.plans import history
from plan_service.plans.models import ChangeCode, Plan
from plan_service.plans.visibility import reader_view

Act = AccessEvent.Action


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    at = serializers.DateTimeField()
    by = serializers.CharField(allow_null=True)
    reason_code = serializers.ChoiceField(choices=ChangeCode.choices)
    reason_label = serializers.CharField(help_text="The reason code in the reader's language.")
    reason = serializers.CharField(
        help_text="The writer's own words (X-Change-Reason); empty unless the reader can see "
        "every change of the version."
    )
    changes = serializers.ListField(child=serializers.DictField())


class PlanHistoryViewSet(PlanScopedMixin, PolicyViewSet):
    """GET history/ lists versions; with ?as_of= or ?version= returns the plan as it stood."""

    audit_object_type = "history"
    policy_actions = {"list": policy.PLAN_VIEW, "diff": policy.PLAN_VIEW}
    serializer_class = VersionSerializer
    schema_model = Plan

    @extend_schema(
        summary="Versions of the plan, or the plan as it stood",
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 moment, with time zone"),
            OpenApiParameter("version", int, description="A plan version"),
        ],
        responses={200: VersionSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        as_of = request.query_params.get("as_of")
        version = request.query_params.get("version")
        if as_of is not None or version is not None:
            state = history.plan_as_of(access=access, as_of=as_of, version=version)
            stored = state.pop("_stored_version")
            log_plan_read(request, access, object_type="history", version=stored)
            return Response(state)
        view = reader_view(access)
        page = self.paginate_queryset(history.version_numbers(view))
        entries = history.version_entries(view=view, numbers=list(page))
        log_plan_read(request, access, action=Act.SEARCH, object_type="history")
        return self.get_paginated_response(entries)

    @extend_schema(
        summary="What changed between two plan versions",
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    @action(detail=False, methods=["get"])
    def diff(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        result: dict[str, Any] = history.plan_diff(
            access=access,
            from_version=request.query_params.get("from", ""),
            to_version=request.query_params.get("to", ""),
        )
        stored = result.pop("_stored_version")
        log_plan_read(request, access, object_type="history", version=stored)
        return Response(result)
