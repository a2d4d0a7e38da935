"""Shared serializer plumbing: model serializers whose fields are built once per class, and
writes that name an unknown or read-only field are refused."""

from __future__ import annotations

import copy
from typing import Any

from django.utils import translation
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


class ModelSerializer(serializers.ModelSerializer):
    """Django REST framework's model serializer, its fields built from the model once per class.

    `ModelSerializer.get_fields` builds every field from the model's on each use (the model's
    field info, each field's kwargs and validators): about 0.35 ms per serializer, and a write
    uses two. What it builds depends on the class alone, except for texts made in the active
    language (a unique field's message is formatted when built), so it is kept per class and
    language and every use gets its own copy, as the framework does for declared fields. (Not
    per REST framework settings: fields built before a test overrides them are kept.)
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built")
        if built is None:
            built = {}
            cls._fields_built = built  # on this class only: a subclass builds its own
        language = translation.get_language()
        fields = built.get(language)
        if fields is None:
            fields = built.setdefault(language, super().get_fields())
        return copy.deepcopy(fields)


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    """A plain input serializer that refuses unknown fields."""


class StrictModelSerializer(StrictInputMixin, ModelSerializer):
    """A model input serializer that refuses unknown fields."""


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer (documented in the OpenAPI schema)."""

    errors = ErrorItemSerializer(many=True)
