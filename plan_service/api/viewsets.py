"""PolicyViewSet: the base of every API view set (a test asserts it).

* It fails closed: each action names the policy question it asks (`policy_actions`, a map
  from the DRF action name to a `policy.Question`), the base asks it before the handler runs,
  and an action without one is refused (403, logged as an error) instead of served.
* A successful read (GET/HEAD) must have appended its access-log rows (the view calls
  `log_plan_read` or the audit services); a read that did not is answered 500 with no data,
  unless the view set lists it in `unlogged_reads` with the reason it concerns no person.
* A write runs in one transaction (`opens_transaction`), which an error answer rolls back
  (`api.exceptions.set_rollback`). A read (GET, HEAD, OPTIONS) runs without one: its only
  writes are its access-log append and the read model's upserts, each one statement that
  commits by itself, and READ COMMITTED gives each statement its own snapshot inside a
  transaction too; a transaction would only add its BEGIN and COMMIT round trips. Inside a
  caller's transaction (a test's) a read takes a savepoint, as any nested block, so that its
  failure leaves that transaction usable. The log is appended before the data leaves, so a
  read whose log row cannot be written returns no data (the database error answers 503).
* A refused request (403/404) is rolled back, then logged as a denied attempt in its own
  transaction.
* Versioned writes read `If-Match`; missing gives 428, malformed 400, stale 412 (in services).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db import DatabaseError, connection, transaction
from django.db.models import Model, QuerySet
from django.http import Http404, JsonResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from plan_service import policy
from plan_service.api.exceptions import RETRY_AFTER_SECONDS, error_body, set_rollback
from plan_service.audit.context import (
    logged_reads,
    start_counting_logged_reads,
    stop_counting_logged_reads,
)
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access, record_denied
from plan_service.errors import PreconditionRequiredError

logger = logging.getLogger(__name__)

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')


def parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


#: Questions every view set shares: DRF's own OPTIONS answer describes the route, not data.
_BASE_QUESTIONS: dict[str, policy.Question] = {"metadata": policy.SIGNED_IN}


class PolicyViewSet(viewsets.GenericViewSet):
    """Policy question per action (fail closed), transaction per request, reads logged,
    denied attempts logged, ETag and If-Match helpers."""

    #: What the access log calls the objects of this view set.
    audit_object_type: ClassVar[str] = ""
    #: The policy question each action asks; an action missing here is refused.
    policy_actions: ClassVar[Mapping[str, policy.Question]] = {}
    #: Read actions that log nothing, each with the reason it concerns no person.
    unlogged_reads: ClassVar[Mapping[str, str]] = {}
    #: The model the OpenAPI schema describes (the schema generator has no user or plan).
    schema_model: ClassVar[type[Model] | None] = None

    #
    # The policy question of the action
    #

    def policy_question(self) -> policy.Question | None:
        """The question the current action asks, or None when the view set names none."""
        return {**_BASE_QUESTIONS, **self.policy_actions}.get(self.action)

    def policy_access(self) -> policy.PlanAccess | None:
        """The caller's access to the plan in the URL, for questions about a plan.

        View sets under /plans/{plan_pk}/ (`PlanScopedMixin`) and the plan view set itself
        answer it; any other view set has no plan, so a plan question fails closed (404).
        """
        return None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication (401), throttles
        if self.action is None:
            return  # no handler for the method: DRF answers 405
        question = self.policy_question()
        if question is None:
            logger.error(
                "%s has no policy question for %r; refused", type(self).__name__, self.action
            )
            raise exceptions.PermissionDenied(_("This action is not available."))
        policy.ask(question, request.user, self.policy_access)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            request.method in ("GET", "HEAD")
            and 200 <= response.status_code < 300
            and self.action not in self.unlogged_reads
            and self.action != "metadata"
            and not getattr(self, "swagger_fake_view", False)
            and logged_reads() == 0
        ):
            logger.error("%s read %r without logging it; refused", type(self).__name__, self.action)
            set_rollback(self.get_exception_handler_context())
            response = Response(
                error_body(500, "unlogged_read", _("The service could not log this read.")),
                status=500,
            )
        return super().finalize_response(request, response, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        """Only for the schema generator: real requests use the selectors, per view."""
        if getattr(self, "swagger_fake_view", False) and self.schema_model is not None:
            return self.schema_model.objects.none()
        return super().get_queryset()

    #: Whether this request runs in a transaction it opened (`opens_transaction`), which an
    #: error answer rolls back (`api.exceptions.set_rollback`).
    owns_transaction = False
    #: Writes whose service opens its own short transactions around a call to another server
    #: (a FHIR push): a request transaction around them would turn those into savepoints and
    #: hold their locks, and the connection, for the whole exchange, retries included.
    self_transacted_actions: ClassVar[frozenset[str]] = frozenset()

    def opens_transaction(self, request: Any) -> bool:
        """Whether the request runs in a transaction of its own: a write does; a read (REST
        framework's SAFE_METHODS) or a `self_transacted_actions` write does not, unless it runs
        inside a caller's transaction, where it takes a savepoint as any nested block does."""
        action = getattr(self, "action_map", {}).get(request.method.lower())
        untransacted = request.method in SAFE_METHODS or action in self.self_transacted_actions
        return not untransacted or connection.in_atomic_block

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        counting = start_counting_logged_reads()
        self.owns_transaction = self.opens_transaction(request)
        try:
            with transaction.atomic() if self.owns_transaction else contextlib.nullcontext():
                response = super().dispatch(request, *args, **kwargs)
        except DatabaseError:
            logger.warning("database error outside the handler; answering 503")
            response = JsonResponse(
                error_body(503, "unavailable", _("The service is briefly unavailable.")),
                status=503,
            )
            response["Retry-After"] = RETRY_AFTER_SECONDS
            return response
        finally:
            stop_counting_logged_reads(counting)
        if response.status_code in (403, 404):
            self._log_denied(response.status_code)
        return response

    def denied_plan_id(self) -> uuid.UUID | None:
        """The plan a refused request was about, if the URL names one."""
        return parse_uuid(self.kwargs.get("plan_pk")) if self.kwargs.get("plan_pk") else None

    def _log_denied(self, status_code: int) -> None:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return
        try:
            record_denied(
                actor=user,
                status_code=status_code,
                object_type=self.audit_object_type,
                object_id=str(self.kwargs.get("pk", ""))[:64],
                plan_id=self.denied_plan_id(),
            )
        except DatabaseError:
            logger.warning("could not log a denied attempt")

    #
    # Versions
    #

    def expected_version(self) -> int:
        """The version named by If-Match; 428 when absent, 400 when not a version."""
        header = self.request.headers.get("If-Match")
        if not header:
            raise PreconditionRequiredError()
        match = _ETAG.match(header)
        if match is None:
            raise exceptions.ValidationError(
                {"If-Match": [_('Expected W/"<version>" as returned in the ETag header.')]}
            )
        return int(match.group(1))

    @staticmethod
    def with_etag(response: Response, version: int) -> Response:
        response["ETag"] = f'W/"{version}"'
        return response


class PlanScopedMixin:
    """For view sets under /plans/{plan_pk}/: the caller's access to that plan, computed once."""

    kwargs: dict[str, Any]
    request: Any
    #: Lock the plan row before deciding a write's access, so the services can use the
    #: decision instead of locking and deciding again (set by the item view sets).
    lock_plan_on_write: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        extend_schema(
            parameters=[
                OpenApiParameter("plan_pk", OpenApiTypes.UUID, OpenApiParameter.PATH),
                OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            ]
        )(cls)

    def policy_access(self) -> Any:
        return self.access

    @cached_property
    def access(self) -> Any:
        """Decided once per request, in one statement. With `lock_plan_on_write`, a write
        locks the plan row first, so the services can use this access instead of deciding
        again."""
        lock = self.lock_plan_on_write and self.request.method not in ("GET", "HEAD", "OPTIONS")
        access = policy.plan_access_for(self.request.user, self.kwargs["plan_pk"], lock=lock)
        if access is None:
            raise Http404  # hidden and missing look the same
        return access


def log_plan_read(
    request: Request,
    access: policy.PlanAccess,
    *,
    action: str = AccessEvent.Action.READ,
    object_type: str = "plan",
    object_id: object = None,
    version: int | None = None,
    subjects: list[uuid.UUID] | None = None,
    result_count: int | None = None,
) -> None:
    """Log a read of one plan's data, one row per person it concerns, before data leaves."""
    plan = access.plan
    if subjects:
        people = subjects
    elif access.family_people is not None:  # read with the access, in the same statement
        people = list(access.family_people)
    else:
        people = family_subjects([plan.family_id]).get(plan.family_id, [])
    record_access(
        actor=request.user,
        action=action,
        subjects=people,
        family_id=plan.family_id,
        plan_id=plan.pk,
        object_type=object_type,
        object_id=object_id or plan.pk,
        object_version=version if version is not None else plan.version,
        access=access,
        query=dict(request.query_params) or None,
        result_count=result_count,
    )
