"""Shared serializer plumbing: writes that name an unknown or read-only field are refused."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

#: The largest integer a request may carry where the database keeps an integer (PostgreSQL's
#: `integer`): versions, user ids. Larger values are refused with 400 naming the field.
MAX_INT = 2_147_483_647


class StrictInputMixin:
    """Reject any key the serializer does not accept as input (mass assignment, typos)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {
                name
                for name, field in self.fields.items()  # type: ignore[attr-defined]
                if not field.read_only
            }
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [
                            serializers.ErrorDetail(
                                _("Unknown or read-only field."), code="unknown_field"
                            )
                        ]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    """A plain input serializer that refuses unknown fields."""


class StrictModelSerializer(StrictInputMixin, serializers.ModelSerializer):
    """A model input serializer that refuses unknown fields."""


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer (documented in the OpenAPI schema)."""

    errors = ErrorItemSerializer(many=True)
