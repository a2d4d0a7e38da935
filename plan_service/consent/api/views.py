"""Consent API: list (filter ?family=), read, give or record, withdraw."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.schema import ERRORS, WRITE_ERRORS
from plan_service.api.viewsets import PolicyViewSet, parse_uuid
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access_batch
from plan_service.consent import selectors, services
from plan_service.consent.api import serializers as s
from plan_service.consent.models import Consent
from plan_service.participants.models import Organization


class ConsentFilter(django_filters.FilterSet):
    family = django_filters.UUIDFilter(field_name="family_id")
    status = django_filters.ChoiceFilter(choices=Consent.Status.choices)

    class Meta:
        model = Consent
        fields = ["family", "status"]


@extend_schema_view(
    list=extend_schema(summary="Consent records", responses={200: s.ConsentSerializer, **ERRORS}),
    retrieve=extend_schema(
        summary="One consent record", responses={200: s.ConsentSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Give (family) or record (lead) a consent",
        request=s.ConsentInputSerializer,
        responses={201: s.ConsentSerializer, **WRITE_ERRORS},
    ),
)
class ConsentViewSet(PolicyViewSet):
    audit_object_type = "consent"
    #: Rows are scoped by `policy.consents_for` (404 outside it); creating names a family of
    #: `policy.consent_families_for` and the service asks the policy again.
    policy_actions = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
        "create": policy.SIGNED_IN,
        "withdraw": policy.SIGNED_IN,
    }
    serializer_class = s.ConsentSerializer
    filterset_class = ConsentFilter

    def get_queryset(self) -> QuerySet[Consent]:
        return selectors.consent_list(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _log(self, request: Request, consents: list[Consent], action: str) -> None:
        record_access_batch(
            actor=request.user,
            action=action,
            entries=[
                {
                    "subjects": [p.pk for p in consent.subjects.all()],
                    "family_id": consent.family_id,
                    "object_type": "consent",
                    "object_id": consent.pk,
                    "legal_basis": "consent management",
                }
                for consent in consents
            ],
        )

    def list(self, request: Request) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        self._log(request, page, AccessEvent.Action.SEARCH)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _get(self, pk: str) -> Consent:
        from django.http import Http404

        consent_id = parse_uuid(pk)
        consent = self.get_queryset().filter(pk=consent_id).first() if consent_id else None
        if consent is None:
            raise Http404
        return consent

    def retrieve(self, request: Request, pk: str) -> Response:
        consent = self._get(pk)
        self._log(request, [consent], AccessEvent.Action.READ)
        return Response(self.get_serializer(consent).data)

    def create(self, request: Request) -> Response:
        data = s.ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        family = policy.consent_families_for(request.user).filter(pk=values["family"]).first()
        if family is None:
            raise exceptions.ValidationError({"family": [_("No such family.")]})
        organization = None
        if values.get("recipient_organization"):
            organization = Organization.objects.filter(pk=values["recipient_organization"]).first()
            if organization is None:
                raise exceptions.ValidationError(
                    {"recipient_organization": [_("No such organisation.")]}
                )
        consent = services.consent_create(
            actor=request.user,
            family=family,
            grantor_id=values.get("grantor"),
            subject_ids=values["subjects"],
            categories=values["categories"],
            purpose=values["purpose"],
            recipient_organization=organization,
            recipient_sector=values.get("recipient_sector", ""),
            valid_from=values.get("valid_from"),
            valid_until=values.get("valid_until"),
            status=values["status"],
            method_detail=values.get("method_detail", ""),
        )
        return Response(
            self.get_serializer(selectors.consent_written(consent)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Withdraw a consent; takes effect on the next request",
        request=s.WithdrawInputSerializer,
        responses={200: s.ConsentSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        consent = self._get(pk)
        data = s.WithdrawInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawn = services.consent_withdraw(
            actor=request.user, consent=consent, reason=data.validated_data["reason"]
        )
        if withdrawn.withdrawn_by_id != request.user.pk:
            # Withdrawn by someone else first: nothing of this caller's was written, so the
            # answer is what their access shows (the other's reason is not theirs to read).
            return Response(self.get_serializer(self._get(pk)).data)
        return Response(self.get_serializer(selectors.consent_written(withdrawn)).data)
