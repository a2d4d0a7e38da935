"""Consent shapes on the wire."""

from __future__ import annotations

from rest_framework import serializers

from plan_service.api.serializers import ModelSerializer, StrictSerializer
from plan_service.categories import Category
from plan_service.consent.models import Consent
from plan_service.participants.models import Sector


class ConsentSerializer(ModelSerializer):
    family = serializers.UUIDField(source="family_id")
    grantor = serializers.UUIDField(source="grantor_id")
    subjects = serializers.SerializerMethodField()
    recipient_organization = serializers.UUIDField(
        source="recipient_organization_id", allow_null=True
    )
    in_force = serializers.BooleanField(
        read_only=True, help_text="In force now: active, within its period, not refused."
    )

    class Meta:
        model = Consent
        fields = [
            "id",
            "family",
            "grantor",
            "subjects",
            "recipient_organization",
            "recipient_sector",
            "categories",
            "purpose",
            "valid_from",
            "valid_until",
            "status",
            "in_force",
            "method",
            "method_detail",
            "withdrawn_at",
            "withdrawal_reason",
            "created_at",
        ]

    def get_subjects(self, consent: Consent) -> list[str]:
        return [str(p.pk) for p in consent.subjects.all()]


class ConsentInputSerializer(StrictSerializer):
    family = serializers.UUIDField()
    grantor = serializers.UUIDField(required=False, allow_null=True)
    subjects = serializers.ListField(child=serializers.UUIDField(), allow_empty=False)
    recipient_organization = serializers.UUIDField(required=False, allow_null=True)
    recipient_sector = serializers.ChoiceField(
        choices=Sector.choices, required=False, allow_blank=True
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), allow_empty=False
    )
    purpose = serializers.CharField(max_length=500)
    valid_from = serializers.DateTimeField(required=False)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(
        choices=[Consent.Status.ACTIVE, Consent.Status.REFUSED], default=Consent.Status.ACTIVE
    )
    method_detail = serializers.CharField(max_length=500, required=False, allow_blank=True)


class WithdrawInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
