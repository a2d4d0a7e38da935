"""Notices over the API: each person's own list, marking read, and preferences.

* `GET /api/v1/notifications/` (`?unread=true`), `POST /api/v1/notifications/{id}/read/`,
  `POST /api/v1/notifications/read-all/`, `GET|PUT /api/v1/notifications/preferences/`.
"""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.serializers import ModelSerializer, StrictSerializer
from plan_service.api.viewsets import PolicyViewSet, parse_uuid
from plan_service.notifications import services
from plan_service.notifications.models import Kind, Notification


class NotificationSerializer(ModelSerializer):
    message = serializers.CharField(source="get_kind_display")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "plan", "object_type", "object_id", "created_at", "read"]

    def get_read(self, row: Notification) -> bool:
        return row.read_at is not None


class PreferenceSerializer(StrictSerializer):
    language = serializers.ChoiceField(choices=["fi", "sv", "en"])
    in_app = serializers.ListField(child=serializers.ChoiceField(choices=Kind.choices))
    email = serializers.ListField(child=serializers.ChoiceField(choices=Kind.choices))


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notices were marked read.")


class EmptySerializer(StrictSerializer):
    pass


class NotificationViewSet(PolicyViewSet):
    audit_object_type = "notification"
    #: Only the caller's own notices (`policy.notifications_for`; 404 for anyone else's).
    policy_actions = {
        "list": policy.SIGNED_IN,
        "read": policy.SIGNED_IN,
        "read_all": policy.SIGNED_IN,
        "preferences": policy.SIGNED_IN,
    }
    unlogged_reads = {
        "list": "the caller's own notices: a kind and ids, no client data (notifications.md)",
        "preferences": "the caller's own settings",
    }
    schema_model = Notification
    serializer_class = NotificationSerializer

    @extend_schema(
        summary="Your notices, newest first",
        parameters=[OpenApiParameter("unread", bool)],
    )
    def list(self, request: Request) -> Response:
        qs = policy.notifications_for(request.user)
        unread = request.query_params.get("unread")
        if unread is not None:
            if unread not in ("true", "false"):
                raise serializers.ValidationError({"unread": [_("Give true or false.")]})
            qs = qs.filter(read_at__isnull=unread == "true")
        page = self.paginate_queryset(qs.order_by("-created_at", "id"))
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(summary="Mark one notice read", request=EmptySerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        row = services.mark_read(user=request.user, notice_id=parse_uuid(pk))
        if row is None:
            raise Http404
        return Response(NotificationSerializer(row).data)

    @extend_schema(
        summary="Mark all your notices read",
        request=EmptySerializer,
        responses={200: MarkedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        EmptySerializer(data=request.data).is_valid(raise_exception=True)
        return Response({"marked": services.mark_all_read(user=request.user)})

    @extend_schema(
        summary="Which notices you get, where, and in which language",
        request=PreferenceSerializer,
        responses={200: PreferenceSerializer},
    )
    @action(detail=False, methods=["get", "put"])
    def preferences(self, request: Request) -> Response:
        if request.method == "PUT":
            data = PreferenceSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            return Response(services.preferences_set(user=request.user, **data.validated_data))
        return Response(services.preferences_of(request.user))
