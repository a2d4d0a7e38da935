"""Emergency access over the API.

* `POST /api/v1/plans/{plan_pk}/emergency-access/`: open a plan outside one's team.
* `GET /api/v1/audit/emergency-access/`: the auditor's review queue (`?review_status=pending`).
* `POST /api/v1/audit/emergency-access/{id}/review/`: accept or flag an opening.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.schema import WRITE_ERRORS
from plan_service.api.serializers import ModelSerializer, StrictSerializer
from plan_service.api.viewsets import PolicyViewSet, parse_uuid
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.emergency import services
from plan_service.emergency.models import EmergencyAccess


class OpenSerializer(StrictSerializer):
    reason_code = serializers.ChoiceField(choices=EmergencyAccess.Reason.choices)
    reason_text = serializers.CharField(max_length=1000)


class ReviewSerializer(StrictSerializer):
    decision = serializers.ChoiceField(
        choices=[EmergencyAccess.Review.ACCEPTED, EmergencyAccess.Review.FLAGGED]
    )
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class EmergencyAccessSerializer(ModelSerializer):
    professional = serializers.SerializerMethodField()
    read_categories = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyAccess
        fields = [
            "id",
            "plan",
            "professional",
            "organization",
            "sector",
            "reason_code",
            "reason_text",
            "opened_at",
            "expires_at",
            "review_status",
            "reviewed_at",
            "review_note",
            "read_categories",
        ]

    def get_professional(self, grant: EmergencyAccess) -> str:
        user = grant.user
        return user.get_full_name() or user.get_username()

    def get_read_categories(self, grant: EmergencyAccess) -> list[str]:
        return sorted(policy.SECTOR_CATEGORIES.get(grant.sector, frozenset()))


class EmergencyOpenViewSet(PolicyViewSet):
    audit_object_type = "emergencyaccess"
    policy_actions = {"create": policy.BREAK_GLASS}
    schema_model = EmergencyAccess

    def denied_plan_id(self) -> Any:
        return parse_uuid(self.kwargs.get("plan_pk"))

    @extend_schema(
        summary="Open a plan outside your team in an emergency (read-only, time-boxed)",
        parameters=[OpenApiParameter("plan_pk", str, OpenApiParameter.PATH)],
        request=OpenSerializer,
        responses={201: EmergencyAccessSerializer, 200: EmergencyAccessSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request, plan_pk: str) -> Response:
        data = OpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant, created = services.emergency_open(
            actor=request.user, plan_id=plan_pk, **data.validated_data
        )
        return Response(
            EmergencyAccessSerializer(grant).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class EmergencyReviewViewSet(PolicyViewSet):
    audit_object_type = "emergencyaccess"
    policy_actions = {"list": policy.AUDITOR, "review": policy.AUDITOR}
    schema_model = EmergencyAccess
    serializer_class = EmergencyAccessSerializer

    @extend_schema(
        summary="Emergency openings by your organisation's professionals (auditors)",
        parameters=[OpenApiParameter("review_status", str, enum=EmergencyAccess.Review.values)],
    )
    def list(self, request: Request) -> Response:
        qs = policy.emergency_reviews_for(request.user).select_related("user", "plan")
        wanted = request.query_params.get("review_status")
        if wanted is not None:
            if wanted not in EmergencyAccess.Review.values:
                raise serializers.ValidationError({"review_status": ["Unknown review status."]})
            qs = qs.filter(review_status=wanted)
        page = self.paginate_queryset(qs.order_by("-opened_at", "id"))
        grants = list(page)
        subjects = family_subjects(g.plan.family_id for g in grants)
        self._log(request, grants, subjects)  # an empty page appends nothing, but is logged
        return self.get_paginated_response(EmergencyAccessSerializer(grants, many=True).data)

    @staticmethod
    def _log(request: Request, grants: list[EmergencyAccess], subjects: dict[Any, Any]) -> None:
        record_access_batch(
            actor=request.user,
            action=AccessEvent.Action.SEARCH,
            entries=[
                {
                    "subjects": subjects.get(g.plan.family_id, []),
                    "family_id": g.plan.family_id,
                    "plan_id": g.plan_id,
                    "object_type": "emergencyaccess",
                    "object_id": g.pk,
                    "purpose": "audit",
                    "legal_basis": "emergency access review",
                }
                for g in grants
            ],
        )

    @extend_schema(
        summary="Accept or flag an emergency opening (auditors of the opener's organisation)",
        request=ReviewSerializer,
        responses={200: EmergencyAccessSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str) -> Response:
        data = ReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.emergency_review(actor=request.user, grant_id=pk, **data.validated_data)
        return Response(EmergencyAccessSerializer(grant).data)
