"""Log rows on the wire: everything for auditors, a plain account for families."""

from __future__ import annotations

from rest_framework import serializers

from plan_service.api.serializers import ModelSerializer
from plan_service.audit.models import AccessEvent, Disclosure


class AccessEventSerializer(ModelSerializer):
    class Meta:
        model = AccessEvent
        fields = [
            "id",
            "chain",
            "seq",
            "recorded_at",
            "action",
            "outcome",
            "outcome_code",
            "actor_user_id",
            "actor_username",
            "actor_kind",
            "actor_role",
            "actor_plan_role",
            "actor_organization_id",
            "actor_organization_name",
            "subject_id",
            "family_id",
            "plan_id",
            "object_type",
            "object_id",
            "object_version",
            "purpose",
            "legal_basis",
            "consent_id",
            "query",
            "result_count",
            "request_id",
            "client_ip",
            "user_agent",
            "prev_hash",
            "row_hash",
        ]


class DisclosureSerializer(ModelSerializer):
    class Meta:
        model = Disclosure
        fields = [
            "id",
            "chain",
            "seq",
            "recorded_at",
            "actor_user_id",
            "actor_username",
            "actor_organization_id",
            "recipient",
            "recipient_organization_id",
            "subject_id",
            "family_id",
            "plan_id",
            "plan_version",
            "content",
            "basis",
            "request_id",
            "prev_hash",
            "row_hash",
        ]


class FamilyAccessRowSerializer(serializers.Serializer):
    """What a family sees of one access: who (or which unit), role, when, what kind, on what basis.

    Object ids are left out: an id could point at an item the family is not shown.
    """

    recorded_at = serializers.DateTimeField()
    who = serializers.SerializerMethodField()
    role = serializers.CharField(source="actor_role")
    organization = serializers.CharField(source="actor_organization_name")
    action = serializers.CharField()
    object_type = serializers.CharField()
    legal_basis = serializers.SerializerMethodField()
    subject = serializers.UUIDField(source="shown_subject", allow_null=True)
    emergency = serializers.SerializerMethodField()

    def get_emergency(self, row: AccessEvent) -> bool:
        """True for every row of an emergency (break-glass) access."""
        return row.purpose == "emergency"

    def get_who(self, row: AccessEvent) -> str:
        if row.actor_kind == "professional" and row.actor_hide_name:
            return row.actor_unit or row.actor_organization_name
        return row.actor_display or row.actor_username

    def get_legal_basis(self, row: AccessEvent) -> str:
        return row.legal_basis.split(":", 1)[0] if row.legal_basis else ""


class BreakSerializer(serializers.Serializer):
    chain = serializers.IntegerField()
    seq = serializers.IntegerField(allow_null=True)
    id = serializers.CharField(allow_null=True)
    problem = serializers.CharField()


class VerifySerializer(serializers.Serializer):
    log = serializers.CharField()
    rows_checked = serializers.IntegerField()
    ok = serializers.BooleanField()
    first_broken = serializers.DictField(allow_null=True)
    breaks = BreakSerializer(many=True)
    chains = serializers.DictField(child=serializers.DictField())
