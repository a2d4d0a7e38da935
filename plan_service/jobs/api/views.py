"""Background jobs over the API: their owner sees progress and result.

* `GET /api/v1/jobs/`, `GET /api/v1/jobs/{id}/`: jobs the caller asked for (others: 404).
* `POST /api/v1/jobs/bulk-export/`: queue an NDJSON export of every plan the caller may export.
* `POST /api/v1/plans/{plan_pk}/fhir/push-job/`: queue a push (plan_service.plans.api.fhir).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.schema import ERRORS
from plan_service.api.serializers import StrictSerializer
from plan_service.api.viewsets import PolicyViewSet, parse_uuid
from plan_service.jobs import services
from plan_service.jobs.api.serializers import JobSerializer
from plan_service.jobs.models import BackgroundJob


class EmptySerializer(StrictSerializer):
    pass


class JobViewSet(PolicyViewSet):
    audit_object_type = "job"
    #: Only the caller's own jobs (`policy.jobs_for`); the bulk export asks `export_own_accesses`.
    policy_actions = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
        "bulk_export": policy.SIGNED_IN,
    }
    unlogged_reads = {
        "list": "the caller's own jobs: status and counts, no client data",
        "retrieve": "the caller's own job: status and counts, no client data",
    }
    schema_model = BackgroundJob
    serializer_class = JobSerializer

    @extend_schema(summary="Your background jobs, newest first")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(policy.jobs_for(request.user).order_by("-created_at", "id"))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(summary="One of your background jobs: status, progress and result")
    def retrieve(self, request: Request, pk: str) -> Response:
        job_id = parse_uuid(pk)
        job = policy.jobs_for(request.user).filter(pk=job_id).first() if job_id else None
        if job is None:
            from django.http import Http404

            raise Http404
        return Response(JobSerializer(job).data)

    @extend_schema(
        summary="Queue a FHIR NDJSON export of every plan you may export",
        request=EmptySerializer,
        responses={202: JobSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="bulk-export")
    def bulk_export(self, request: Request) -> Response:
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        job = services.enqueue_bulk_export(actor=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
