"""Registry API: who am I, tokens, organisations, professionals, families."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.exceptions import error_body, flatten
from plan_service.api.schema import ERRORS, WRITE_ERRORS
from plan_service.api.serializers import ErrorSerializer
from plan_service.api.viewsets import PolicyViewSet
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access, record_access_batch
from plan_service.participants import second_factor, selectors, services, sessions
from plan_service.participants.api import serializers as s
from plan_service.participants.authentication import token_issue, token_revoke
from plan_service.participants.models import ApiToken, Organization, Professional

Act = AccessEvent.Action
THROTTLED = OpenApiResponse(
    ErrorSerializer,
    description="Too many failed sign-ins for this account or address; see Retry-After.",
)


class AuthTokenViewSet(PolicyViewSet):
    """POST: exchange username and password for a bearer token. DELETE: revoke the one in use."""

    audit_object_type = "token"
    #: Signing in needs no account yet; signing out revokes only the caller's own token.
    policy_actions = {"create": policy.ANYONE, "destroy_current": policy.SIGNED_IN}

    def get_permissions(self) -> list[Any]:
        if self.request and self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(
        summary="Sign in and get a bearer token",
        request=s.TokenRequestSerializer,
        responses={200: s.TokenResponseSerializer, 400: ERRORS[400], 429: THROTTLED},
        auth=[],
    )
    def create(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            # Answered, not raised: raising would roll back the request's transaction, and with
            # it the throttle's count of this failure. The failed attempt itself is logged by
            # plan_service.audit.accounts (user_login_failed), in its own transaction.
            if getattr(request._request, "axes_locked_out", False):
                return Response(
                    error_body(429, "throttled", _("Too many failed sign-in attempts.")),
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            detail = exceptions.ErrorDetail(
                _("Unable to sign in with these credentials."), code="invalid_credentials"
            )
            return Response(
                {"errors": flatten({"password": [detail]})}, status=status.HTTP_400_BAD_REQUEST
            )
        if policy.requires_second_factor(user) and not second_factor.verify(
            user, data.validated_data.get("otp")
        ):
            # A failure like a wrong password: logged and counted by the throttle (signal).
            second_factor.refused(request._request, data.validated_data["username"])
            detail = exceptions.ErrorDetail(
                _("A valid one-time code is required for professionals."),
                code="second_factor_required",
            )
            return Response(
                {"errors": flatten({"otp": [detail]})}, status=status.HTTP_400_BAD_REQUEST
            )
        key, token = token_issue(user=user)
        # Signing in through this door issues the token: one row, in the token's transaction.
        record_access(
            actor=user,
            action=Act.LOGIN,
            subjects=[],
            object_type="token",
            object_id=str(token.pk),
            purpose="security",
            query={"path": "token"},
        )
        return Response({"token": key, "expires_at": token.expires_at})

    @extend_schema(summary="Revoke the token used in this request", responses={204: None, **ERRORS})
    def destroy_current(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            record_access(
                actor=request.user,
                action=Act.LOGOUT,
                subjects=[],
                object_type="token",
                object_id=str(request.auth.pk),
                purpose="security",
            )
            token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeViewSet(PolicyViewSet):
    audit_object_type = "me"
    schema_model = Professional
    policy_actions = {"list": policy.SIGNED_IN}
    unlogged_reads = {"list": "the caller's own account: no one else's data"}
    pagination_class = None
    list_is_single_object = True  # GET /me/ answers one object (plan_service.api.schema)

    @extend_schema(summary="Who am I", responses={200: s.MeSerializer, **ERRORS})
    def list(self, request: Request) -> Response:
        user = request.user
        data = s.MeSerializer.build(
            user, policy.user_kind(user), policy.professional_of(user), policy.person_of(user)
        )
        return Response(s.MeSerializer(data).data)


class MySessionsViewSet(PolicyViewSet):
    """The caller's own sessions and tokens: list them, end one, or end them all."""

    audit_object_type = "session"
    schema_model = Professional
    #: Only the caller's own sessions are listed or found (404 for anyone else's).
    policy_actions = {
        "list": policy.SIGNED_IN,
        "destroy": policy.SIGNED_IN,
        "end_all": policy.SIGNED_IN,
    }
    unlogged_reads = {"list": "the caller's own sessions and tokens: no one else's data"}
    pagination_class = None  # a person's own sessions and tokens: a short list, never paged

    @extend_schema(
        summary="My sessions and tokens",
        responses={200: s.SignInEntrySerializer(many=True), **ERRORS},
    )
    def list(self, request: Request) -> Response:
        current = sessions.current_entry(request)
        rows = [{**r, "current": r["id"] == current} for r in sessions.sessions_of(request.user)]
        return Response(s.SignInEntrySerializer(rows, many=True).data)

    @extend_schema(
        summary="End one of my sessions or tokens",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={204: None, **ERRORS},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        current = sessions.current_entry(request)
        if not sessions.end_one(user=request.user, entry_id=pk):  # logged by the service
            raise exceptions.NotFound()
        if pk == current:
            _drop_ended_session(request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Sign out everywhere: end every session and token of mine",
        request=None,
        responses={200: s.EndedSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="end-all")
    def end_all(self, request: Request) -> Response:
        if request.data:  # parsing enforces the body limits; this action takes no body
            raise exceptions.ValidationError({"body": [_("This action takes no body.")]})
        tokens, ended = sessions.end_all(request.user)  # logged by the service
        _drop_ended_session(request)
        return Response({"tokens": tokens, "sessions": ended})


def _drop_ended_session(request: Request) -> None:
    """The request's own page session (when it came with one) has just been ended: drop its
    data too, as the sessions page does, so that nothing saves it again at the end of the
    request (a change made to it on the way, such as a choice of child dropped because acting
    was blocked, would otherwise answer 400 "session deleted before the request completed")."""
    session = getattr(request, "session", None)
    if session is not None and session.session_key is not None:
        session.flush()


@extend_schema_view(
    list=extend_schema(
        summary="Organisations", responses={200: s.OrganizationSerializer, **ERRORS}
    ),
    retrieve=extend_schema(
        summary="One organisation", responses={200: s.OrganizationSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Register an organisation (administrator)",
        request=s.OrganizationInputSerializer,
        responses={201: s.OrganizationSerializer, **WRITE_ERRORS},
    ),
)
class OrganizationViewSet(PolicyViewSet):
    audit_object_type = "organization"
    policy_actions = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
        "create": policy.ADMIN,
    }
    unlogged_reads = {
        "list": "the public register of organisations: no person",
        "retrieve": "the public register of organisations: no person",
    }
    serializer_class = s.OrganizationSerializer
    filterset_fields = ["sector"]

    def get_queryset(self) -> QuerySet[Organization]:
        return selectors.organization_list()

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        data = s.OrganizationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(actor=request.user, **data.validated_data)
        return Response(self.get_serializer(organization).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Professionals", responses={200: s.ProfessionalSerializer, **ERRORS}
    ),
    retrieve=extend_schema(
        summary="One professional", responses={200: s.ProfessionalSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Register a professional (administrator)",
        request=s.ProfessionalInputSerializer,
        responses={201: s.ProfessionalSerializer, **WRITE_ERRORS},
    ),
)
class ProfessionalViewSet(PolicyViewSet):
    audit_object_type = "professional"
    #: Lists are scoped by `professional_list` (empty for families: `may_list_professionals`).
    policy_actions = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
        "create": policy.ADMIN,
    }
    unlogged_reads = {
        "list": "the staff register (work name, role, organisation): no client data",
        "retrieve": "the staff register (work name, role, organisation): no client data",
    }
    serializer_class = s.ProfessionalSerializer
    filterset_fields = ["role", "organization"]

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.professional_list(user=self.request.user)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        data = s.ProfessionalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        organization = selectors.organization_list().filter(pk=values.pop("organization")).first()
        if organization is None:
            raise exceptions.ValidationError({"organization": [_("No such organisation.")]})
        professional = services.professional_create(
            actor=request.user, organization=organization, **values
        )
        return Response(self.get_serializer(professional).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Families the caller may see", responses={200: s.FamilySerializer, **ERRORS}
    ),
    retrieve=extend_schema(
        summary="One family with its members", responses={200: s.FamilySerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Register a family (professional)",
        request=s.FamilyInputSerializer,
        responses={201: s.FamilySerializer, **WRITE_ERRORS},
    ),
)
class FamilyViewSet(PolicyViewSet):
    audit_object_type = "family"
    #: Rows are scoped by `policy.families_for` (404 outside it); registering needs a sector
    #: professional (`may_create_plan`).
    policy_actions = {
        "list": policy.SIGNED_IN,
        "retrieve": policy.SIGNED_IN,
        "create": policy.CREATE_PLAN,
    }
    serializer_class = s.FamilySerializer

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.family_list(user=self.request.user)

    def _log(self, request: Request, families: list[Any], action: str) -> None:
        record_access_batch(
            actor=request.user,
            action=action,
            entries=[
                {
                    "subjects": [m.pk for m in family.members.all()],
                    "family_id": family.pk,
                    "object_type": "family",
                    "object_id": family.pk,
                    "legal_basis": "care-team membership",
                }
                for family in families
            ],
        )

    def list(self, request: Request) -> Response:
        families = list(self.paginate_queryset(self.get_queryset()))
        self._log(request, families, Act.SEARCH)
        return self.get_paginated_response(self.get_serializer(families, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        family = selectors.family_get(user=request.user, family_id=pk)
        self._log(request, [family], Act.READ)
        return Response(self.get_serializer(family).data)

    def create(self, request: Request) -> Response:
        data = s.FamilyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        family = services.family_create(actor=request.user, **data.validated_data)
        family = selectors.family_get(user=request.user, family_id=family.pk)
        return Response(self.get_serializer(family).data, status=status.HTTP_201_CREATED)
