"""What a machine client may reach over the API, and nothing else (deny by default).

* `GET /api/v1/client/plans/`: the plans its recipient may receive (`policy.client_plans_for`).
* `GET /api/v1/client/plans/{id}/fhir/`: one of them as a FHIR R4 transaction Bundle holding
  what the recipient may receive (`policy.client_export_access`), logged as a disclosure.

Both ask `policy.CLIENT_READ`, the one question a machine client's token can answer yes to; a
person (token or session) is refused with 403, and every other route refuses a client with 403.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fhir_export import FHIR_JSON
from plan_service import policy
from plan_service.api.schema import ERRORS
from plan_service.api.serializers import ModelSerializer
from plan_service.api.viewsets import PolicyViewSet, parse_uuid
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.plans import export
from plan_service.plans.api.fhir import FhirJsonRenderer, parse_version
from plan_service.plans.models import Plan


class ClientPlanSerializer(ModelSerializer):
    """A plan as listed to a machine client: what is the same for every reader."""

    fhir = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = ("id", "status", "period_start", "period_end", "created_at", "fhir")
        read_only_fields = fields

    def get_fhir(self, plan: Plan) -> str:
        return f"/api/v1/client/plans/{plan.pk}/fhir/"


class ClientPlanViewSet(PolicyViewSet):
    """The plans a machine client's recipient may receive, and their FHIR export."""

    audit_object_type = "plan"
    schema_model = Plan
    serializer_class = ClientPlanSerializer
    policy_actions = {"list": policy.CLIENT_READ, "fhir": policy.CLIENT_READ}
    #: JSON first (the list); the FHIR action answers `application/fhir+json` first.
    renderer_classes: ClassVar[list[type[BaseRenderer]]] = [JSONRenderer, FhirJsonRenderer]
    #: The OpenAPI schema names the client-credentials scheme here, and only here.
    machine_clients_only = True

    def denied_plan_id(self) -> Any:
        """The plan a refused request named (its id is the route's own)."""
        return parse_uuid(self.kwargs["pk"]) if self.kwargs.get("pk") else None

    @extend_schema(
        summary="Plans my recipient may receive (machine clients only)",
        responses={200: ClientPlanSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request) -> Response:
        queryset = (
            policy.client_plans_for(request.user)
            .only("id", "status", "period_start", "period_end", "created_at", "family_id")
            .order_by("-created_at", "-id")
        )
        page = self.paginate_queryset(queryset)
        plans = list(page)
        subjects = family_subjects(p.family_id for p in plans)
        record_access_batch(
            actor=request.user,
            action=AccessEvent.Action.SEARCH,
            entries=[
                {
                    "subjects": subjects.get(plan.family_id, []),
                    "family_id": plan.family_id,
                    "plan_id": plan.pk,
                    "object_type": "plan",
                    "object_id": plan.pk,
                    "query": dict(request.query_params) or None,
                    "result_count": len(plans),
                    "purpose": "machine_client",
                    "legal_basis": f"recipient:{request.user.machine_client.recipient.code}",
                }
                for plan in plans
            ]
            # An empty page is a search about nobody, logged all the same.
            or [
                {
                    "subjects": [],
                    "object_type": "plan",
                    "query": dict(request.query_params) or None,
                    "result_count": 0,
                    "purpose": "machine_client",
                }
            ],
        )
        return self.get_paginated_response(self.get_serializer(plans, many=True).data)

    @extend_schema(
        summary="A plan as my recipient may receive it: FHIR R4 transaction Bundle",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("version", int, description="Plan version (default: current)."),
        ],
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="FHIR R4 transaction Bundle."
            ),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="FHIR R4 transaction Bundle."
            ),
            **ERRORS,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="fhir",
        renderer_classes=[FhirJsonRenderer, JSONRenderer],
    )
    def fhir(self, request: Request, pk: Any = None) -> Response:
        version = parse_version(request.query_params.get("version"))
        result = export.plan_export_for_client(actor=request.user, plan_id=pk, version=version)
        response = Response(result.bundle)
        # The plan's version is not the recipient's to know: the Bundle id names its content.
        response["ETag"] = f'W/"{result.bundle["id"]}"'
        response["Cache-Control"] = "no-store"
        return response
