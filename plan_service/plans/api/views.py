"""The plan API: plans, their team, and their items. Parse, call a selector or service, render."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.pagination import CountedPageNumberPagination
from plan_service.api.schema import ERRORS, WRITE_ERRORS
from plan_service.api.serializers import MAX_INT, StrictSerializer
from plan_service.api.viewsets import PlanScopedMixin, PolicyViewSet, log_plan_read, parse_uuid
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.participants import assessments
from plan_service.participants.models import MaturityAssessment, Professional
from plan_service.plans import document, kinds, selectors, services
from plan_service.plans.api import filters
from plan_service.plans.api import serializers as s
from plan_service.plans.models import (
    CLIENT_CHANGE_CODES,
    Acknowledgement,
    Membership,
    Plan,
    PlanItem,
    Reason,
)
from plan_service.plans.visibility import item_view, reader_view
from plan_service.text_limits import REASON_CHARS

Act = AccessEvent.Action

IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description='W/"<version>", the ETag the caller read: versions are counted as the caller '
    "sees them (docs/architecture.md), so only changes the caller can see make it stale.",
)
REASON_CODE = OpenApiParameter(
    "X-Change-Reason-Code",
    str,
    OpenApiParameter.HEADER,
    required=False,
    enum=sorted(CLIENT_CHANGE_CODES),
    description="Why this change is made, from a closed list; without it the operation names "
    "its own code (plan_changed, item_added, ...). Every reader of the version sees the code.",
)
REASON_TEXT = OpenApiParameter(
    "X-Change-Reason",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Why this change is made, in the writer's words (at most 500 characters). "
    "Kept with the version and shown in its history only to readers who can see every change "
    "the version made.",
)
#: Headers every write that makes a plan version accepts.
REASONS = [REASON_CODE, REASON_TEXT]


#: The longest free-text reason a write may carry.
REASON_MAX = REASON_CHARS


def change_reason(request: Request) -> Reason:
    """The client's reason for a write: `X-Change-Reason-Code` (one of the closed list of
    `ChangeCode`s a client may choose) and `X-Change-Reason` (free text, at most
    `REASON_MAX` characters). Either may be left out; a bad one answers 400 naming it."""
    code = request.headers.get("X-Change-Reason-Code", "").strip()
    text = request.headers.get("X-Change-Reason", "").strip()
    if code and code not in CLIENT_CHANGE_CODES:
        raise exceptions.ValidationError(
            {
                "X-Change-Reason-Code": [
                    _("Choose one of: %(codes)s.")
                    % {"codes": ", ".join(sorted(CLIENT_CHANGE_CODES))}
                ]
            }
        )
    if len(text) > REASON_MAX:
        raise exceptions.ValidationError(
            {"X-Change-Reason": [_("At most %(n)s characters.") % {"n": REASON_MAX}]}
        )
    return Reason(code=code, text=text)


#
# Plans
#


@extend_schema_view(
    list=extend_schema(
        summary="Plans the caller may see", responses={200: s.PlanOutputSerializer, **ERRORS}
    ),
    retrieve=extend_schema(
        summary="One plan, with what the caller may do",
        responses={200: s.PlanDetailSerializer, **ERRORS},
    ),
    create=extend_schema(
        summary="Open a plan for a family",
        request=s.PlanCreateSerializer,
        responses={201: s.PlanDetailSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change summary, period or status",
        request=s.PlanUpdateSerializer,
        parameters=[IF_MATCH, *REASONS],
        responses={200: s.PlanDetailSerializer, **WRITE_ERRORS},
    ),
)
class PlanViewSet(PolicyViewSet):
    audit_object_type = "plan"
    serializer_class = s.PlanOutputSerializer
    #: A reader's plans are few (about 200 for the busiest professional): count with the page.
    pagination_class = CountedPageNumberPagination
    filterset_class = filters.PlanFilter
    #: The list is scoped by `policy.plans_for`; a change of status also needs MANAGE, which
    #: the service asks (`plan_update`).
    policy_actions = {
        "list": policy.SIGNED_IN,
        "create": policy.CREATE_PLAN,
        "retrieve": policy.PLAN_VIEW,
        "document": policy.PLAN_VIEW,
        "partial_update": policy.plan_question(policy.Action.CHANGE),
        "explain": policy.EXPLAIN,
    }

    def policy_access(self) -> policy.PlanAccess:
        return self.access

    @cached_property
    def access(self) -> policy.PlanAccess:
        """The caller's access to the plan in the URL, decided once per request (one
        statement); Http404 when it is hidden or missing."""
        return selectors.plan_access_get(user=self.request.user, plan_id=self.kwargs["pk"])

    def get_queryset(self) -> QuerySet[Plan]:
        return selectors.plan_list(user=self.request.user)

    def denied_plan_id(self) -> uuid.UUID | None:
        return parse_uuid(self.kwargs.get("pk"))

    def list(self, request: Request) -> Response:
        if set(request.query_params) <= {"page"} and self.paginator is not None:
            # Unfiltered, in pages of the default size, its first page is one compiled statement.
            queryset: Any = selectors.PlanListFirstPage(request.user, self.paginator.page_size)
        else:
            queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        plans = list(page)
        subjects = family_subjects(p.family_id for p in plans)
        record_access_batch(
            actor=request.user,
            action=Act.SEARCH,
            entries=[
                {
                    "subjects": subjects.get(plan.family_id, []),
                    "family_id": plan.family_id,
                    "plan_id": plan.pk,
                    "object_type": "plan",
                    "object_id": plan.pk,
                    "object_version": plan.version,
                    "query": dict(request.query_params) or None,
                    "result_count": len(plans),
                    "legal_basis": "care-team membership",
                }
                for plan in plans
            ],
        )
        return self.get_paginated_response(self.get_serializer(plans, many=True).data)

    def _detail(
        self,
        request: Request,
        access: policy.PlanAccess,
        code: int = 200,
        *,
        log_read: bool = True,
    ) -> Response:
        # After a write the service has logged each person once; a second "read" row per
        # person for the same request would be a duplicate (security.md row H).
        data = document.detail(access)
        if log_read:  # logged last, so the chain lock is held only until the commit
            log_plan_read(request, access)
        return self.with_etag(Response(data, status=code), data["version"])

    def _stored(self, request: Request, access: policy.PlanAccess, stored: str) -> HttpResponse:
        """A rendering from the read model (plans/document.py) with the reader's own rights in
        front, logged as a read, with the version this reader sees as its ETag."""
        body = document.with_permissions(stored, access)
        log_plan_read(request, access)  # logged last, so the chain lock is held only until commit
        response = HttpResponse(body, content_type="application/json")
        return self.with_etag(response, document.reader_version(stored))

    def retrieve(self, request: Request, pk: str) -> HttpResponse:
        # Rendered once per plan version and visibility class; writes answer through `_detail`.
        access = self.access
        return self._stored(request, access, document.plan_detail(access))

    def create(self, request: Request) -> Response:
        data = s.PlanCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        plan = services.plan_create(actor=request.user, family_id=values.pop("family"), **values)
        access = selectors.plan_access_get(user=request.user, plan_id=plan.pk)
        return self._detail(request, access, status.HTTP_201_CREATED, log_read=False)

    def partial_update(self, request: Request, pk: str) -> Response:
        expected = self.expected_version()
        data = s.PlanUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        plan = services.plan_update(
            actor=request.user,
            plan_id=pk,
            expected_version=expected,
            data=data.validated_data,
            reason=change_reason(request),
        )
        access = selectors.plan_access_get(user=request.user, plan_id=plan.pk)
        return self._detail(request, access, log_read=False)

    @extend_schema(
        summary="The whole plan as the caller may see it, in one answer",
        description=(
            "Per-child sections (needs, their goals with progress from the reviews, the goals' "
            "actions with who is responsible), reviews, comments, views, dissents, "
            "acknowledgements and the team with each member's basis. Same visibility rules, "
            "ETag and access logging as the plan itself (one access-log row per family member)."
        ),
        responses={200: s.PlanDocumentSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def document(self, request: Request, pk: str) -> HttpResponse:
        access = self.access
        return self._stored(request, access, document.plan_document(access))

    @extend_schema(
        summary="Why a member can or cannot see each category",
        parameters=[OpenApiParameter("member", uuid.UUID, required=True)],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def explain(self, request: Request, pk: str) -> Response:
        access = self.access  # the lead only, also on a completed plan (`policy.EXPLAIN`)
        member_id = parse_uuid(request.query_params.get("member"))
        member = selectors.membership_list(access=access).filter(pk=member_id).first()
        if member is None:
            raise serializers.ValidationError({"member": ["No such member of this team."]})
        log_plan_read(request, access, object_type="membership", object_id=member.pk)
        return Response(policy.explain(access.plan, member))


#
# Team
#


@extend_schema_view(
    list=extend_schema(
        summary="The care team", responses={200: s.MembershipOutputSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Add a professional (lead only)",
        request=s.MembershipCreateSerializer,
        parameters=REASONS,
        responses={201: s.MembershipOutputSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="End a membership (lead only)",
        parameters=REASONS,
        responses={204: None, **WRITE_ERRORS},
    ),
)
class MembershipViewSet(PlanScopedMixin, PolicyViewSet):
    audit_object_type = "membership"
    policy_actions = {
        "list": policy.PLAN_VIEW,
        "create": policy.plan_question(policy.Action.MANAGE),
        "destroy": policy.plan_question(policy.Action.MANAGE),
    }
    serializer_class = s.MembershipOutputSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.membership_list(access=self.access)

    def list(self, request: Request, plan_pk: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        log_plan_read(request, self.access, action=Act.SEARCH, object_type="membership")
        serializer = self.get_serializer(
            page, many=True, context={**self.get_serializer_context(), "access": self.access}
        )
        return self.get_paginated_response(serializer.data)

    def create(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        data = s.MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        professional = (
            Professional.objects.select_related("user")
            .filter(pk=values.pop("professional"))
            .first()
        )
        if professional is None:
            raise serializers.ValidationError({"professional": ["No such professional."]})
        membership = services.membership_add(
            actor=request.user,
            plan_id=access.plan.pk,
            professional=professional,
            role=values["role"],
            basis=values["basis"],
            consent_id=values.get("consent"),
            statute=values.get("statute", ""),
            valid_from=values.get("valid_from"),
            valid_until=values.get("valid_until"),
            reason=change_reason(request),
        )
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, plan_pk: str, pk: str) -> Response:
        access = self.access
        if parse_uuid(pk) is None:
            raise Http404
        services.membership_end(
            actor=request.user,
            plan_id=access.plan.pk,
            membership_id=pk,
            reason=change_reason(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


#
# Items
#


class PlanItemViewSet(PlanScopedMixin, PolicyViewSet):
    """List, read, add, change and remove one kind of plan item, all versioned."""

    kind: ClassVar[kinds.ItemKind]  # the declaration the view set serves (plans/kinds.py)
    model: ClassVar[type[PlanItem]]
    lock_plan_on_write = True  # writes pass the view's access to the services
    output_serializer: ClassVar[type[serializers.Serializer]]
    input_serializer: ClassVar[type[serializers.Serializer]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "model" in cls.__dict__ and "policy_actions" not in cls.__dict__:
            cls.policy_actions = policy.item_questions(cls.model)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.request and self.request.method in ("POST", "PUT", "PATCH"):
            return self.input_serializer
        return self.output_serializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return selectors.item_list(access=self.access, model=self.model).select_related(
            "created_by", "updated_by"
        )

    def output_context(self, item: PlanItem | None = None) -> dict[str, Any]:
        # Related item kinds whose ids the output shows only when visible (the declaration's).
        visible = {
            target: selectors.readable_ids(access=self.access, model=kinds.get(target).model)
            for target in dict.fromkeys(self.kind.references.values())
        }
        if item is not None:  # one item: its own history, not the plan's (plans/visibility.py)
            view = item_view(self.access, self.kind.name, item.pk)
        else:
            view = reader_view(self.access)
        context = {"visible": visible, "view": view}
        if self.kind.signature:
            context["signers"] = selectors.signer_kinds(view=view)
        return context

    def render(self, items: Any, many: bool = False) -> Any:
        context = self.output_context(None if many else items)
        self._reader_view = context["view"]
        return self.output_serializer(items, many=many, context=context).data

    def etag_version(self, item: PlanItem) -> int:
        """The item's version as the caller sees it (after `render`, from the same view)."""
        return self._reader_view.item_version(item._meta.model_name, item.pk, item.version)

    def _subjects(self, items: list[PlanItem]) -> list[uuid.UUID] | None:
        people: list[uuid.UUID] = []
        for item in items:
            if not item.concerns:
                return None  # something concerns the whole family
            people.extend(item.concerns)
        return people or None

    def list(self, request: Request, plan_pk: str) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        data = self.render(page, many=True)
        log_plan_read(
            request,
            self.access,
            action=Act.SEARCH,
            object_type=self.model._meta.model_name,
            subjects=self._subjects(page),
            result_count=len(page),
        )
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, plan_pk: str, pk: str) -> Response:
        item = selectors.item_get(access=self.access, model=self.model, item_id=pk)
        data = self.render(item)
        log_plan_read(
            request,
            self.access,
            object_type=self.model._meta.model_name,
            object_id=item.pk,
            version=item.version,
            subjects=self._subjects([item]),
        )
        return self.with_etag(Response(data), self.etag_version(item))

    def create(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.item_create(
            actor=request.user,
            plan_id=access.plan.pk,
            model=self.model,
            data=data.validated_data,
            reason=change_reason(request),
            access=access,
        )
        data = self.render(item)
        response = Response(data, status=status.HTTP_201_CREATED)
        return self.with_etag(response, self.etag_version(item))

    def _update(self, request: Request, pk: str, partial: bool) -> Response:
        access = self.access
        locked = selectors.item_get(access=access, model=self.model, item_id=pk, lock=True)
        expected = self.expected_version()
        data = self.input_serializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        item = services.item_update(
            actor=request.user,
            plan_id=access.plan.pk,
            model=self.model,
            item_id=pk,
            expected_version=expected,
            data=data.validated_data,
            reason=change_reason(request),
            access=access,
            item=locked,
        )
        data = self.render(item)
        return self.with_etag(Response(data), self.etag_version(item))

    def update(self, request: Request, plan_pk: str, pk: str) -> Response:
        return self._update(request, pk, partial=False)

    def partial_update(self, request: Request, plan_pk: str, pk: str) -> Response:
        return self._update(request, pk, partial=True)

    def destroy(self, request: Request, plan_pk: str, pk: str) -> Response:
        access = self.access
        locked = selectors.item_get(access=access, model=self.model, item_id=pk, lock=True)
        expected = self.expected_version()
        services.item_delete(
            actor=request.user,
            plan_id=access.plan.pk,
            model=self.model,
            item_id=pk,
            expected_version=expected,
            reason=change_reason(request),
            access=access,
            item=locked,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RestoreSerializer(StrictSerializer):
    version = serializers.IntegerField(
        min_value=1, max_value=MAX_INT, help_text="The item version to bring back."
    )


class RestrictSerializer(StrictSerializer):
    child = serializers.UUIDField(
        allow_null=True, help_text="The child whose wish hides the item; null shows it again."
    )


def _versioned_action(
    view: Any,
    request: Request,
    pk: str,
    input_serializer: type[serializers.Serializer],
    service: Any,
    **arguments: str,
) -> Response:
    """Shared steps of an item action: visible item, If-Match, valid body, service, new ETag.

    `arguments` maps the service's keyword to the body field that supplies it.
    """
    access = view.access
    selectors.item_get(access=access, model=view.model, item_id=pk)
    expected = view.expected_version()
    data = input_serializer(data=request.data)
    data.is_valid(raise_exception=True)
    item = service(
        actor=request.user,
        plan_id=access.plan.pk,
        model=view.model,
        item_id=pk,
        expected_version=expected,
        **{name: data.validated_data[field] for name, field in arguments.items()},
    )
    data = view.render(item)
    return view.with_etag(Response(data), view.etag_version(item))


class RestorableMixin:
    """POST …/{id}/restore/ {"version": n}: the lead brings back an earlier version (If-Match)."""

    @extend_schema(
        summary="Bring back an earlier version (lead)",
        request=RestoreSerializer,
        parameters=[IF_MATCH, *REASONS],
        responses={200: None, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, plan_pk: str, pk: str) -> Response:
        return _versioned_action(
            self, request, pk, RestoreSerializer, services.item_restore, version="version"
        )


class RestrictableMixin:
    """POST …/{id}/restrict/ {"child": id|null}: hide from guardians at a mature child's wish."""

    @extend_schema(
        summary="Hide from guardians at a mature minor's wish, or show again (professional)",
        request=RestrictSerializer,
        parameters=[IF_MATCH, *REASONS],
        responses={200: None, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def restrict(self, request: Request, plan_pk: str, pk: str) -> Response:
        return _versioned_action(
            self, request, pk, RestrictSerializer, services.item_restrict, child_id="child"
        )


def _item_schema(name: str, out: Any, inp: Any) -> Any:
    def decorate(cls: Any) -> Any:
        # restore and restrict answer the item as it now is.
        extra = {
            action_name: extend_schema(responses={200: out, **WRITE_ERRORS})
            for action_name in ("restore", "restrict")
            if hasattr(cls, action_name)
        }
        return _item_schema_view(name, out, inp, extra)(cls)

    return decorate


def _item_schema_view(name: str, out: Any, inp: Any, extra: dict[str, Any]) -> Any:
    return extend_schema_view(
        **extra,
        list=extend_schema(
            summary=f"{name}s of the plan the caller may read", responses={200: out, **ERRORS}
        ),
        retrieve=extend_schema(summary=f"One {name}", responses={200: out, **ERRORS}),
        create=extend_schema(
            summary=f"Add a {name}",
            request=inp,
            parameters=REASONS,
            responses={201: out, **WRITE_ERRORS},
        ),
        update=extend_schema(
            summary=f"Replace a {name}",
            request=inp,
            parameters=[IF_MATCH, *REASONS],
            responses={200: out, **WRITE_ERRORS},
        ),
        partial_update=extend_schema(
            summary=f"Change a {name}",
            request=inp,
            parameters=[IF_MATCH, *REASONS],
            responses={200: out, **WRITE_ERRORS},
        ),
        destroy=extend_schema(
            summary=f"Remove a {name}",
            parameters=[IF_MATCH, *REASONS],
            responses={204: None, **WRITE_ERRORS},
        ),
    )


_ITEM_VIEWSETS: dict[str, type[PlanItemViewSet]] = {}


def item_viewset(kind: kinds.ItemKind) -> type[PlanItemViewSet]:
    """The view set of a declared kind: its hand-written one when named, else one made from the
    declaration (list, read, add, change, remove; restore and restrict when versioned)."""
    if kind.viewset:
        return import_string(kind.viewset)
    cached = _ITEM_VIEWSETS.get(kind.name)
    if cached is not None and cached.kind is kind:
        return cached
    out, inp = kind.output_serializer_class(), kind.input_serializer_class()
    attrs: dict[str, Any] = {
        # No docstring: the schema's operations keep their summaries only, as before.
        "__module__": __name__,
        "kind": kind,
        "audit_object_type": kind.name,
        "model": kind.model,
        "output_serializer": out,
        "input_serializer": inp,
    }
    if kind.filterset_class:
        attrs["filterset_class"] = import_string(kind.filterset_class)
    else:
        attrs["filterset_fields"] = list(kind.filterset_fields)
    mixins = (RestrictableMixin, RestorableMixin) if kind.versioned_actions else ()
    cls = type(f"{kind.model.__name__}ViewSet", (*mixins, PlanItemViewSet), attrs)
    cls = _item_schema(kind.name, out, inp)(cls)
    _ITEM_VIEWSETS[kind.name] = cls
    return cls


@extend_schema_view(
    list=extend_schema(
        summary="Acknowledgements of plan versions",
        responses={200: s.AcknowledgementOutputSerializer, **ERRORS},
    ),
    retrieve=extend_schema(
        summary="One acknowledgement", responses={200: s.AcknowledgementOutputSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Sign the current plan version (guardian or child)",
        request=s.AcknowledgementInputSerializer,
        responses={201: s.AcknowledgementOutputSerializer, **WRITE_ERRORS},
    ),
)
class AcknowledgementViewSet(PlanItemViewSet):
    """Signatures are permanent: they can be listed, read and added, never changed or removed."""

    kind = kinds.ACKNOWLEDGEMENT
    audit_object_type = kind.name
    model = Acknowledgement
    output_serializer = s.AcknowledgementOutputSerializer
    input_serializer = s.AcknowledgementInputSerializer
    http_method_names: ClassVar[list[str]] = ["get", "post", "head", "options"]

    def create(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        data = s.AcknowledgementInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ack = services.acknowledgement_create(
            actor=request.user, plan_id=access.plan.pk, access=access, **data.validated_data
        )
        return Response(self.render(ack), status=status.HTTP_201_CREATED)


class AssessmentSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    child = serializers.UUIDField(source="child_id")
    code = serializers.IntegerField(min_value=1, max_value=4)
    assessed_on = serializers.DateField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class AssessmentInputSerializer(StrictSerializer):
    child = serializers.UUIDField()
    code = serializers.ChoiceField(choices=[1, 2, 3, 4])
    assessed_on = serializers.DateField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


@extend_schema_view(
    list=extend_schema(
        summary="Maturity assessments of the family's children (team only)",
        responses={200: AssessmentSerializer, **ERRORS},
    ),
    create=extend_schema(
        summary="Record a maturity assessment (THL code 1-4)",
        request=AssessmentInputSerializer,
        responses={201: AssessmentSerializer, **WRITE_ERRORS},
    ),
)
class AssessmentViewSet(PlanScopedMixin, PolicyViewSet):
    """Never shown to the family: an assessment saying "forbids" would reveal hidden items."""

    audit_object_type = "maturityassessment"
    policy_actions = {"list": policy.ASSESSMENTS, "create": policy.RECORD_ASSESSMENT}
    serializer_class = AssessmentSerializer
    schema_model = MaturityAssessment

    def list(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        page = self.paginate_queryset(selectors.assessment_list(access=access))
        log_plan_read(request, access, action=Act.SEARCH, object_type="maturityassessment")
        return self.get_paginated_response(AssessmentSerializer(page, many=True).data)

    def create(self, request: Request, plan_pk: str) -> Response:
        access = self.access
        data = AssessmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        assessment = assessments.assessment_record(
            actor=request.user,
            plan_id=access.plan.pk,
            child_id=values.pop("child"),
            code=int(values.pop("code")),
            **values,
        )
        return Response(AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)
