"""The plan's FHIR R4 export over the API.

* `GET /api/v1/plans/{plan_pk}/fhir/`: the transaction Bundle as `application/fhir+json`.
* `POST /api/v1/plans/{plan_pk}/fhir/push/`: push the Bundle to the recipient's FHIR server.
* `POST /api/v1/plans/{plan_pk}/fhir/push-job/`: the same push as a background job.

A download (GET) with `?recipient=` holds what that recipient may receive *and* the caller
reads themself; a push holds everything the recipient may receive (it goes to the recipient's
server, never to the caller). See docs/fhir.md, "Download or delivery".

Parse, call the export or push service (which check EXPORT and log the disclosure), render.
Hidden plans answer 404, visible ones without EXPORT 403.
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fhir_export import FHIR_JSON
from plan_service import policy
from plan_service.api.schema import ERRORS
from plan_service.api.viewsets import PlanScopedMixin, PolicyViewSet
from plan_service.plans import export, push
from plan_service.plans.models import Plan


class FhirJsonRenderer(JSONRenderer):
    """JSON rendered as `application/fhir+json` (compact, UTF-8, keys in FHIR element order)."""

    media_type = FHIR_JSON
    format = "fhir"


def parse_version(raw: str | None) -> int | None:
    """The `?version=` parameter as a positive integer, or None when absent; 400 otherwise."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        raise serializers.ValidationError({"version": [_("Give the version as a number.")]})
    return int(raw)


class PushInputSerializer(serializers.Serializer):
    """What a push names: the recipient (registry code) and the plan version."""

    recipient = serializers.CharField(max_length=60)
    version = serializers.IntegerField(required=False, min_value=1, max_value=2_147_483_647)


RECIPIENT = OpenApiParameter(
    "recipient",
    str,
    description="Registry code of the recipient; the Bundle holds what it may receive, cut to "
    "what you may read yourself (a push sends the recipient's full view). Without it, your own "
    "view.",
)


class PlanFhirViewSet(PlanScopedMixin, PolicyViewSet):
    """The plan's FHIR export, filtered by what the caller may read."""

    audit_object_type = "plan"
    schema_model = Plan
    policy_actions = {
        "list": policy.EXPORT_FOR_RECIPIENT,
        "push": policy.EXPORT_FOR_RECIPIENT,
        "push_job": policy.EXPORT_FOR_RECIPIENT,
    }
    # The push snapshots in one short transaction, posts, and records in another
    # (plans/push.py): no lock or open transaction over the network.
    self_transacted_actions = frozenset({"push"})
    renderer_classes: ClassVar[list[type[BaseRenderer]]] = [FhirJsonRenderer, JSONRenderer]

    @extend_schema(
        summary="The plan as a FHIR R4 transaction Bundle (needs export rights)",
        parameters=[
            OpenApiParameter("version", int, description="Plan version (default: current)."),
            RECIPIENT,
        ],
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="FHIR R4 transaction Bundle."
            ),
            # The same Bundle for clients that ask for plain JSON (Accept or ?format=json).
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="FHIR R4 transaction Bundle."
            ),
            **ERRORS,
        },
    )
    def list(self, request: Request, plan_pk: str) -> Response:
        access = self.access  # 404 before anything else when the plan is hidden
        version = parse_version(request.query_params.get("version"))
        recipient = export.resolve_recipient(request.query_params.get("recipient"))
        result = export.plan_export(
            actor=request.user, plan_id=access.plan.pk, version=version, recipient=recipient
        )
        response = Response(result.bundle)
        if result.snapshot.reader_relative:
            # The plan's version is not the recipient's to know: the Bundle id names its content.
            response["ETag"] = f'W/"{result.bundle["id"]}"'
            response["Cache-Control"] = "no-store"
            return response
        return self.with_etag(response, result.snapshot.version)

    @extend_schema(
        summary="Push the plan to the configured FHIR server (needs export rights)",
        request=PushInputSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Accepted by the server."),
            502: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Refused or unreachable; the server's OperationOutcome is included.",
            ),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="No server configured."),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="push", renderer_classes=[JSONRenderer])
    def push(self, request: Request, plan_pk: str) -> Response:
        access = self.access  # 404 before anything else when the plan is hidden
        data = PushInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipient = export.resolve_recipient(data.validated_data["recipient"])
        try:
            result = push.plan_push(
                actor=request.user,
                plan_id=access.plan.pk,
                recipient=recipient,
                version=data.validated_data.get("version"),
            )
        except push.PushFailed as exc:
            body = {
                "errors": [{"field": None, "code": exc.code, "message": str(exc.message)}],
                "server_status": exc.server_status,
                "attempts": exc.attempts,
                "operation_outcome": exc.outcome,
            }
            return Response(body, status=status.HTTP_502_BAD_GATEWAY)
        return Response(
            {
                "server": result.base_url,
                "server_status": result.server_status,
                "attempts": result.attempts,
                "entries": result.entries,
            },
            status=status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Queue a push of the plan to the recipient's FHIR server (a background job)",
        request=PushInputSerializer,
        responses={
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="The queued job."),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="No server configured."),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="push-job", renderer_classes=[JSONRenderer])
    def push_job(self, request: Request, plan_pk: str) -> Response:
        from plan_service.jobs.api.serializers import JobSerializer
        from plan_service.jobs.services import enqueue_push

        access = self.access  # 404 before anything else when the plan is hidden
        data = PushInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = enqueue_push(
            actor=request.user,
            plan_id=access.plan.pk,
            recipient=export.resolve_recipient(data.validated_data["recipient"]),
            version=data.validated_data.get("version"),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
