"""Registry shapes on the wire."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plan_service.api.serializers import ModelSerializer, StrictSerializer
from plan_service.participants.models import (
    Family,
    Organization,
    Person,
    Professional,
    Role,
    Sector,
    validate_identity_code,
)


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=10,
        required=False,
        help_text=_("The one-time code of the authenticator app (professionals)."),
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class OrganizationSerializer(ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "oid", "sector"]
        read_only_fields = ["id"]


class OrganizationInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    oid = serializers.RegexField(r"^[0-2](\.\d+)+$", max_length=120)
    sector = serializers.ChoiceField(choices=Sector.choices)


class ProfessionalSerializer(ModelSerializer):
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    organization = serializers.UUIDField(source="organization_id")
    sector = serializers.CharField(allow_null=True)

    class Meta:
        model = Professional
        fields = ["id", "user", "username", "name", "organization", "role", "sector", "unit"]

    def get_name(self, professional: Professional) -> str:
        return professional.user.get_full_name()


class ProfessionalInputSerializer(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]{3,150}$")
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    organization = serializers.UUIDField()
    role = serializers.ChoiceField(choices=Role.choices)
    unit = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PersonSerializer(ModelSerializer):
    guardians = serializers.SerializerMethodField()
    birth_date = serializers.DateField(allow_null=True)
    has_account = serializers.SerializerMethodField()

    class Meta:
        model = Person
        fields = [
            "id",
            "kind",
            "given_name",
            "family_name",
            "identity_code",
            "birth_date",
            "guardians",
            "has_account",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_guardians(self, person: Person) -> list[str]:
        return [str(g.guardian_id) for g in person.guardianships.all()]

    def get_has_account(self, person: Person) -> bool:
        return person.user_id is not None


class FamilySerializer(ModelSerializer):
    members = PersonSerializer(many=True)

    class Meta:
        model = Family
        fields = ["id", "name", "members", "created_at"]


class MemberInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=Person.Kind.choices)
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    identity_code = serializers.CharField(max_length=11, validators=[validate_identity_code])
    guardian_of = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=100),
        required=False,
        default=list,
        max_length=100,
    )


class FamilyInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    members = MemberInputSerializer(many=True, allow_empty=False, max_length=100)


class MeSerializer(serializers.Serializer):
    user = serializers.DictField()
    kind = serializers.CharField()
    organization = OrganizationSerializer(allow_null=True)
    role = serializers.CharField(allow_null=True)
    sector = serializers.CharField(allow_null=True)
    person = serializers.DictField(allow_null=True)

    @staticmethod
    def build(user: Any, kind: str, professional: Any, person: Any) -> dict[str, Any]:
        return {
            "user": {
                "id": user.pk,
                "username": user.get_username(),
                "name": user.get_full_name(),
            },
            "kind": kind,
            "organization": professional.organization if professional else None,
            "role": professional.role if professional else None,
            "sector": professional.sector if professional else None,
            "person": {"id": str(person.pk), "family": str(person.family_id), "kind": person.kind}
            if person
            else None,
        }


class SignInEntrySerializer(serializers.Serializer):
    """One of the caller's own live sessions or tokens."""

    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["session", "token"])
    method = serializers.CharField()
    started_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    user_agent = serializers.CharField()
    current = serializers.BooleanField()


class EndedSerializer(serializers.Serializer):
    tokens = serializers.IntegerField()
    sessions = serializers.IntegerField()
